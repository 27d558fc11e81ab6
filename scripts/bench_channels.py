#!/usr/bin/env python
"""Benchmark Phoenix channels on BitNexus against a bare aiohttp floor and Phoenix.

Everything on loopback, a fresh server per run, the demo socket
(``/demo/socket``, topic ``room:bench``, joined WITHOUT ``name`` so no presence
is tracked, as in Phoenix's reference figures). A Node client writing V2
frames straight on its sockets (``scripts/bench_client``: a minimal WebSocket
client on ``node:net``, or the ``ws`` package with ``--client ws``) drives the
load; server CPU is utime+stime from ``/proc/PID/stat``, memory is ``VmRSS``,
and the CPU of the client and of everything else on the machine is reported
per phase, so a client-bound or noisy run shows. Phases:

- join: N clients (5,000) join, 100 handshakes in flight: seconds until all
  joined; bytes per joined channel = (RSS joined - RSS idle) / N;
- fan-out: one member pushes ``shout`` 100 times every 100 ms with a send
  timestamp; delivery latency p50/p99 over every member (sender included) and
  server CPU µs per delivered message;
- request/reply: 200 fresh clients each ``ping`` back to back for 10 s:
  replies/s, p50/p99.

The same workload runs against ``scripts/bench_channels_floor.py`` (aiohttp +
uvloop, hand-rolled V2, no actors): the Python floor. With two or more cores
the client is pinned to CPU 0 and the server to CPU 1 (``--workers 2``: no
pinning; fan-out is skipped there, as PubSub does not yet cross processes).

Usage::

    python scripts/bench_channels.py               # table (a few minutes)
    python scripts/bench_channels.py --json        # one JSON object
    python scripts/bench_channels.py --quick       # N=300, short phases (smoke test)
    python scripts/bench_channels.py --workers 2   # plus two servers on SO_REUSEPORT
    python scripts/bench_channels.py --profile     # plus py-spy top functions per phase
    python scripts/bench_channels.py --repeat 3    # 3 alternating rounds, median of each figure

The machine's speed drifts (the floor's 5,000 joins have taken 1.55 s on one
day and 2.9 s on another), so read BitNexus against the floor measured in the
same run: the table's last column is BitNexus divided by the floor.

``DATABASE_URL`` is passed to ``bitnexus serve`` when set (else it starts an
embedded PostgreSQL; RSS idle is read once it is up and quiet).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench_channels_support import (
    Meter,
    free_port,
    profile_top,
    reap,
    rss_bytes,
    settle,
    start_profiler,
    start_server,
    table,
    warm_up,
)

__all__ = ["main", "merge_rounds"]

ROOT = Path(__file__).resolve().parent.parent
CLIENT_DIR = ROOT / "scripts" / "bench_client"
FULL = {
    "clients": 5000, "inflight": 100, "shouts": 100, "interval_ms": 100,
    "ping_clients": 200, "ping_seconds": 10.0, "grace_s": 30.0, "timeout_s": 180.0,
}  # fmt: skip
QUICK = {
    "clients": 300, "inflight": 50, "shouts": 20, "interval_ms": 50,
    "ping_clients": 50, "ping_seconds": 1.0, "grace_s": 10.0, "timeout_s": 60.0,
}  # fmt: skip
METRICS = [
    "join_s",
    "bytes_per_channel",
    "fanout_p50_ms",
    "fanout_p99_ms",
    "fanout_cpu_us_per_msg",
    "fanout_kernel_us_per_msg",
    "replies_per_s",
    "ping_p50_ms",
    "ping_p99_ms",
]
REFERENCE = {
    "phoenix": {
        "join_s": 1.64, "bytes_per_channel": 29_100, "fanout_p99_ms": 93.0,
        "fanout_cpu_us_per_msg": 14.2, "replies_per_s": 30_500, "ping_p99_ms": 14.0,
    },
    "floor_reported": {
        "join_s": 1.41, "bytes_per_channel": 14_600, "fanout_p99_ms": 70.0,
        "fanout_cpu_us_per_msg": 7.4, "replies_per_s": 68_000,
    },
    "target": {
        "join_s": 1.6, "bytes_per_channel": 20_000, "fanout_p99_ms": 93.0,
        "fanout_cpu_us_per_msg": 9.0, "replies_per_s": 30_500,
    },
}  # fmt: skip


class BenchError(RuntimeError):
    """A server or the client failed; the message says which and why."""


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _ensure_client() -> str:
    node = shutil.which("node")
    if node is None:
        raise BenchError("node is not installed (the load client runs under Node >= 20)")
    if not (CLIENT_DIR / "node_modules" / "ws").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            raise BenchError("npm is not installed (needed once: npm ci in scripts/bench_client)")
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=CLIENT_DIR, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise BenchError(f"npm ci failed:\n{done.stdout}\n{done.stderr}")
    return node


class Client:
    """The Node load client: JSON events on stdout, ``go`` lines on stdin."""

    def __init__(self, node: str, config: dict[str, Any], cpus: set[int] | None) -> None:
        def prepare() -> None:
            _raise_nofile()
            if cpus:
                os.sched_setaffinity(0, cpus)

        self._err = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            [node, str(CLIENT_DIR / "client.mjs"), json.dumps(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err,
            preexec_fn=prepare, text=True,
        )  # fmt: skip
        self.pid = self.proc.pid
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.timeout = float(config["timeout_s"]) + 30.0

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def event(self, expected: str) -> dict[str, Any]:
        """The next event, which must be ``expected``."""
        try:
            line = self._lines.get(timeout=self.timeout)
        except queue.Empty:
            raise BenchError(f"the client sent nothing for {self.timeout}s") from None
        if line is None:
            self._err.seek(0)
            err = self._err.read().decode(errors="replace")[-3000:]
            raise BenchError(
                f"the client exited ({self.proc.wait()}) waiting for {expected}:\n{err}"
            )
        event = json.loads(line)
        if event.get("event") != expected:
            raise BenchError(f"client: expected {expected}, got {event}")
        return event

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()  # the client exits when its stdin closes
        reap(self.proc, timeout=15)
        self._err.close()


@contextlib.contextmanager
def _servers(kind: str, workers: int, cpus: set[int] | None) -> Iterator[tuple[int, list[int]]]:
    port = free_port()
    procs: list[Any] = []
    try:
        for _ in range(workers):  # one after the other: migrations must not race
            procs.append(start_server(kind, port, reuse_port=workers > 1, cpus=cpus))
        yield port, [p.pid for p in procs]
    finally:
        for proc in procs:
            proc.stop()


def _run_target(
    kind: str, node: str, settings: dict[str, Any], *, workers: int, profile: bool
) -> dict[str, Any]:
    """One fresh server (or ``workers`` of them) through every phase."""
    two_cores = (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity")
    pin = two_cores and workers == 1
    phases = ["join", "fanout", "ping"] if workers == 1 else ["join", "ping"]
    out: dict[str, Any] = {"pinning": "client cpu0, server cpu1" if pin else "none"}
    with _servers(kind, workers, {1} if pin else None) as (port, pids):
        url = f"ws://127.0.0.1:{port}/demo/socket/websocket?vsn=2.0.0"
        warm_up(url)
        settle(pids)
        rss_idle = sum(rss_bytes(pid) for pid in pids)
        config = {
            **settings, "url": url, "topic": "room:bench", "joinPayload": {}, "phases": phases,
            "intervalMs": settings["interval_ms"], "pingClients": settings["ping_clients"],
            "pingSeconds": settings["ping_seconds"], "graceS": settings["grace_s"],
            "timeoutS": settings["timeout_s"], "transport": settings["transport"],
        }  # fmt: skip
        client = Client(node, config, {0} if pin else None)
        try:
            client.event("ready")
            spy = start_profiler(pids[0]) if profile else None
            joined, meter = _go(client, pids, "joined")
            if spy is not None:
                out["profile_join"] = profile_top(spy)
            if joined["joined"] == 0:
                raise BenchError(f"{kind}: no client joined ({joined.get('lastError')})")
            settle(pids)
            rss_joined = sum(rss_bytes(pid) for pid in pids)
            out.update(
                join_s=joined["seconds"], join_failed=joined["failed"], joined=joined["joined"],
                rss_idle_bytes=rss_idle, rss_joined_bytes=rss_joined,
                bytes_per_channel=(rss_joined - rss_idle) / joined["joined"],
                **_cpu("join", meter),
            )  # fmt: skip
            if "fanout" in phases:
                spy = start_profiler(pids[0]) if profile else None
                fan, meter = _go(client, pids, "fanout")
                out.update(
                    fanout_p50_ms=fan["p50_ms"], fanout_p99_ms=fan["p99_ms"],
                    fanout_max_ms=fan["max_ms"], fanout_delivered=fan["delivered"],
                    fanout_expected=fan["expected"],
                    fanout_cpu_us_per_msg=meter.server * 1e6 / max(fan["delivered"], 1),
                    fanout_kernel_us_per_msg=meter.server_kernel * 1e6 / max(fan["delivered"], 1),
                    **_cpu("fanout", meter),
                )  # fmt: skip
                if spy is not None:
                    out["profile_fanout"] = profile_top(spy)
            _go(client, pids, "closed")
            settle(pids)
            if "ping" in phases:
                _go(client, pids, "ping_ready")
                settle(pids)
                spy = start_profiler(pids[0]) if profile else None
                ping, meter = _go(client, pids, "ping")
                out.update(
                    replies_per_s=ping["replies_per_s"], ping_p50_ms=ping["p50_ms"],
                    ping_p99_ms=ping["p99_ms"], ping_replies=ping["replies"],
                    ping_cpu_us_per_reply=meter.server * 1e6 / max(ping["replies"], 1),
                    **_cpu("ping", meter),
                )  # fmt: skip
                if workers > 1:
                    out["ping_cpu_split_pct"] = meter.split_pct
                if spy is not None:
                    out["profile_ping"] = profile_top(spy)
            else:
                client.go()
            client.event("done")
        finally:
            client.close()
    return out


def _cpu(phase: str, meter: Meter) -> dict[str, float]:
    return {
        f"server_cpu_{phase}_pct": meter.server_pct,
        f"client_cpu_{phase}_pct": meter.client_pct,
        f"other_cpu_{phase}_pct": meter.foreign_pct,
    }


def _go(client: Client, pids: list[int], expected: str) -> tuple[dict[str, Any], Meter]:
    """Let the client run its next phase; the meter covers exactly that phase."""
    meter = Meter(pids, client.pid)
    client.go()
    event = client.event(expected)
    meter.stop()
    return event, meter


def _bench(args: argparse.Namespace) -> dict[str, Any]:
    settings = dict(QUICK if args.quick else FULL)
    if args.clients:
        settings["clients"] = args.clients
    settings["transport"] = args.client
    _raise_nofile()
    node = _ensure_client()
    results: dict[str, Any] = {
        "quick": args.quick,
        "settings": settings,
        "presence": False,
        "reference": REFERENCE,
    }
    runs = [("bitnexus", "bitnexus", 1)]
    if not args.skip_floor:
        runs.append(("floor", "floor", 1))
    if args.workers > 1:
        runs.append((f"bitnexus_x{args.workers}", "bitnexus", args.workers))
    # Rounds alternate the targets, so a machine that speeds up or slows down
    # mid-run affects both alike; each figure is the median over the rounds.
    samples: dict[str, list[Any]] = {}
    for round_no in range(1, args.repeat + 1):
        for name, kind, workers in runs:
            label = f"{name} (round {round_no}/{args.repeat})" if args.repeat > 1 else name
            print(f"bench_channels: {label} ...", file=sys.stderr, flush=True)
            measured = _run_target(
                kind, node, settings, workers=workers, profile=args.profile and name == "bitnexus"
            )
            for key, value in measured.items():
                samples.setdefault(f"{name}_{key}", []).append(value)
    results["repeat"] = args.repeat
    results.update(merge_rounds(samples))
    return results


def merge_rounds(samples: dict[str, list[Any]]) -> dict[str, Any]:
    """One figure per key: the median of numeric rounds, else the last value.

    Example::

        merge_rounds({"bitnexus_join_s": [2.4, 2.9, 2.5]}) == {"bitnexus_join_s": 2.5}
    """
    merged: dict[str, Any] = {}
    for key, values in samples.items():
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            middle = statistics.median(values)
            merged[key] = round(middle, 4) if isinstance(middle, float) else middle
        else:
            merged[key] = values[-1]
    return merged


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print a table or, with ``--json``, one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="N=300, short phases (smoke test)")
    parser.add_argument("--clients", type=int, help="clients in the join and fan-out phases")
    parser.add_argument(
        "--client", choices=("raw", "ws"), default="raw", help="the Node client's socket"
    )
    parser.add_argument("--skip-floor", action="store_true", help="no bare aiohttp run")
    parser.add_argument("--workers", type=int, default=1, help="also run N servers, SO_REUSEPORT")
    parser.add_argument("--profile", action="store_true", help="py-spy top 10 per phase")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of every target, alternating; medians"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    try:
        results = _bench(args)
    except RuntimeError as exc:  # BenchError, or a server that would not start
        print(f"bench_channels: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(results, indent=2) if args.json else table(results, METRICS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
