// Load client for scripts/bench_channels.py: Phoenix V2 frames straight on the socket, no
// phoenix.js, so one Node process can drive thousands of sockets without being the
// bottleneck. `transport` picks the socket: "raw" (default: a minimal WebSocket client on
// node:net) or "ws" (the `ws` package); see wire.mjs.
//
//   node client.mjs '{"url": "ws://127.0.0.1:4000/demo/socket/websocket?vsn=2.0.0", ...}'
//
// It talks to its parent over stdio, one JSON object per stdout line: it starts with
// {"event": "ready"} and after each phase it reports, then it waits for a line on stdin
// ("go" to go on, anything else to stop), so the parent can read the server's CPU and RSS
// between phases and Node's own start-up stays out of them. Phases, in order:
//   join    open `clients` sockets, `inflight` handshakes at a time, each joining `topic`
//   fanout  client 0 pushes `shout` {t, k} `shouts` times, every `intervalMs`; every member
//           (sender included) records now - t for each shout it receives; stragglers get
//           `graceS` seconds after the last shout
//   close   close every socket
//   ping    `pingClients` fresh sockets join, then each pushes `ping` back to back for
//           `pingSeconds`; replies/s and latency
// Every phase has a hard deadline (`timeoutS`); missing it prints {"event": "error"} and
// exits 2. Latencies are in milliseconds.

import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { open as openSocket } from "./wire.mjs";

const cfg = JSON.parse(process.argv[2]);
const TOPIC = cfg.topic;
const JOIN = JSON.stringify(["1", "1", TOPIC, "phx_join", cfg.joinPayload ?? {}]);

const pending = [];
const queued = [];
const stdin = createInterface({ input: process.stdin });
stdin.on("line", (line) => (pending.length ? pending.shift()(line) : queued.push(line)));
stdin.on("close", () => process.exit(3)); // the parent is gone

const report = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function proceed() {
  const line = queued.length ? queued.shift() : await new Promise((r) => pending.push(r));
  if (line.trim() !== "go") {
    await closeAll(open, 5000);
    process.exit(0);
  }
}

function deadline(phase) {
  const timer = setTimeout(() => {
    report({ event: "error", phase, message: `${phase} exceeded ${cfg.timeoutS}s` });
    for (const conn of open) conn.terminate();
    process.exit(2);
  }, cfg.timeoutS * 1000);
  return () => clearTimeout(timer);
}

function percentiles(values, count) {
  const sorted = Float64Array.from(values.subarray ? values.subarray(0, count) : values).sort();
  const at = (q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0);
  return { p50_ms: at(0.5), p99_ms: at(0.99), max_ms: sorted.length ? sorted[sorted.length - 1] : 0 };
}

const open = new Set();

async function openAndJoin() {
  const conn = await openSocket(cfg.url, cfg.transport ?? "raw");
  open.add(conn);
  conn.closed.then(() => open.delete(conn));
  const joined = new Promise((resolve, reject) => {
    conn.onmessage = (text) => {
      const [, ref, , event, body] = JSON.parse(text);
      if (event !== "phx_reply" || ref !== "1") return;
      conn.onmessage = null;
      if (body.status === "ok") resolve(conn);
      else reject(new Error(`join refused: ${JSON.stringify(body)}`));
    };
    conn.closed.then(() => reject(new Error("closed before the join reply")));
  });
  conn.send(JOIN);
  return joined;
}

async function connectAll(count) {
  const sockets = [];
  let next = 0;
  let failed = 0;
  let lastError = null;
  const started = performance.now();
  const worker = async () => {
    while (next < count) {
      next += 1;
      try {
        sockets.push(await openAndJoin());
      } catch (err) {
        failed += 1;
        lastError = String(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(cfg.inflight, count) }, worker));
  const seconds = (performance.now() - started) / 1000;
  return { sockets, seconds, failed, lastError };
}

async function fanout(sockets) {
  const expected = sockets.length * cfg.shouts;
  const latencies = new Float64Array(expected);
  let received = 0;
  let allIn;
  const done = new Promise((resolve) => (allIn = resolve));
  for (const conn of sockets) {
    conn.onmessage = (text) => {
      const now = performance.now();
      const frame = JSON.parse(text);
      if (frame[3] !== "shout") return;
      if (received < expected) latencies[received] = now - frame[4].t;
      received += 1;
      if (received === expected) allIn();
    };
  }
  const sender = sockets[0];
  const started = performance.now();
  for (let k = 0; k < cfg.shouts; k += 1) {
    const wait = started + k * cfg.intervalMs - performance.now();
    if (wait > 0) await sleep(wait);
    sender.send(JSON.stringify(["1", String(k + 2), TOPIC, "shout", { t: performance.now(), k }]));
  }
  // A member the server dropped never completes the set: stop waiting after a grace period.
  await Promise.race([done, sleep(cfg.graceS * 1000)]);
  const seconds = (performance.now() - started) / 1000;
  return { delivered: received, expected, seconds, ...percentiles(latencies, received) };
}

async function pingLoop(sockets) {
  const latencies = [];
  const stopAt = performance.now() + cfg.pingSeconds * 1000;
  const started = performance.now();
  let last = started;
  await Promise.all(
    sockets.map(
      (conn) =>
        new Promise((resolve) => {
          let ref = 1;
          let want = "";
          let sentAt = 0;
          const send = () => {
            ref += 1;
            want = String(ref);
            sentAt = performance.now();
            conn.send(`["1","${want}","${TOPIC}","ping",{"n":${ref}}]`);
          };
          conn.onmessage = (text) => {
            const now = performance.now();
            const frame = JSON.parse(text);
            if (frame[3] !== "phx_reply" || frame[1] !== want) return;
            latencies.push(now - sentAt);
            last = now;
            if (now < stopAt) send();
            else resolve();
          };
          send();
        }),
    ),
  );
  const seconds = (last - started) / 1000;
  const replies = latencies.length;
  return { replies, seconds, replies_per_s: replies / seconds, ...percentiles(latencies, replies) };
}

async function closeAll(sockets, timeoutMs) {
  const all = [...sockets];
  for (const conn of all) conn.close();
  await Promise.race([Promise.all(all.map((conn) => conn.closed)), sleep(timeoutMs)]);
  for (const conn of sockets) conn.terminate(); // whatever is still open
}

async function main() {
  const phases = new Set(cfg.phases);
  let sockets = [];
  report({ event: "ready" });
  await proceed();
  if (phases.has("join")) {
    const stop = deadline("join");
    const joined = await connectAll(cfg.clients);
    stop();
    sockets = joined.sockets;
    report({ event: "joined", joined: sockets.length, ...joined, sockets: undefined });
    await proceed();
  }
  if (phases.has("fanout") && sockets.length) {
    const stop = deadline("fanout");
    const result = await fanout(sockets);
    stop();
    report({ event: "fanout", ...result });
    await proceed();
  }
  {
    const stop = deadline("close");
    await closeAll(open, 10000);
    stop();
    report({ event: "closed" });
    await proceed();
  }
  if (phases.has("ping")) {
    let stop = deadline("ping_join");
    const joined = await connectAll(cfg.pingClients);
    stop();
    report({ event: "ping_ready", joined: joined.sockets.length, failed: joined.failed });
    await proceed();
    stop = deadline("ping");
    const result = await pingLoop(joined.sockets);
    stop();
    report({ event: "ping", ...result });
    await closeAll(open, 10000);
  }
  report({ event: "done" });
  process.exit(0);
}

main().catch((err) => {
  report({ event: "error", phase: "client", message: String(err && err.stack ? err.stack : err) });
  process.exit(1);
});
