// Heartbeat: the server answers every heartbeat on topic "phoenix", so the client keeps the
// connection open even with a 200 ms heartbeat interval (a missed reply would close it).
import assert from "node:assert/strict"
import {scenario, sleep, unique} from "./helpers.mjs"

scenario("heartbeats every 200 ms are each answered, and the connection stays open", async (h) => {
  const socket = h.socket("client", {heartbeatIntervalMs: 200})
  const seen = h.messages(socket)
  let closes = 0
  socket.onClose(() => closes++)
  await h.connect(socket)
  await sleep(1300)
  const replies = seen.filter(m => m.topic === "phoenix" && m.event === "phx_reply")
  // Open at 0, heartbeat at 200, then 200 ms after each reply: at least 4 round trips by 1.3 s.
  assert.ok(replies.length >= 4, `only ${replies.length} heartbeat replies in 1.3 s`)
  for(const reply of replies){
    assert.deepEqual(reply.payload, {status: "ok", response: {}})
    assert.equal(reply.join_ref, null)
    assert.match(reply.ref, /^\d+$/)
  }
  assert.equal(new Set(replies.map(r => r.ref)).size, replies.length, "heartbeat reply refs repeat")
  assert.equal(closes, 0, "the connection closed (a heartbeat went unanswered)")
  assert.equal(socket.isConnected(), true)
})

scenario("socket.ping reports a round trip to the server", async (h) => {
  const socket = h.socket("client")
  await h.connect(socket)
  const rtt = await new Promise(resolve => assert.equal(socket.ping(resolve), true))
  assert.equal(typeof rtt, "number")
  assert.ok(rtt >= 0 && rtt < 2000, `rtt ${rtt}`)
})

scenario("channels keep working between heartbeats", async (h) => {
  const socket = h.socket("client", {heartbeatIntervalMs: 200})
  await h.connect(socket)
  const room = socket.channel(`room:${unique("hb")}`, {name: "ada"})
  await h.join(room)
  for(let n = 0; n < 5; n++){
    assert.deepEqual(await h.push(room, "ping", {n}), {status: "ok", response: {n}})
    await sleep(120)
  }
  assert.equal(room.state, "joined")
})
