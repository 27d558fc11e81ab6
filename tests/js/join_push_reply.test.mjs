// Join, push and reply: the basic request/response cycle of a channel.
import assert from "node:assert/strict"
import {scenario, unique} from "./helpers.mjs"

scenario("a join of room:* is answered ok with an empty response", async (h) => {
  const socket = h.socket("client")
  await h.connect(socket)
  const room = socket.channel(`room:${unique("join")}`, {name: "ada"})
  assert.deepEqual(await h.join(room), {})
  assert.equal(room.state, "joined")
})

scenario("a ping is answered ok with the payload it carried", async (h) => {
  const socket = h.socket("client")
  const seen = h.messages(socket)
  await h.connect(socket)
  const topic = `room:${unique("ping")}`
  const room = socket.channel(topic, {name: "ada"})
  await h.join(room)
  const payload = {hi: 1, nested: {list: [1, "two", null, true]}, text: "ünïcødé ✓"}
  assert.deepEqual(await h.push(room, "ping", payload), {status: "ok", response: payload})
  // The reply carries the ref of the push and the channel's join_ref (the client's routing keys).
  const reply = seen.find(m => m.topic === topic && m.event === "phx_reply" && m.payload.response && m.payload.response.hi === 1)
  assert.ok(reply, "the ping reply was seen")
  assert.equal(reply.join_ref, room.joinRef())
})

scenario("pushes sent back to back are each answered with their own payload", async (h) => {
  const socket = h.socket("client")
  await h.connect(socket)
  const room = socket.channel(`room:${unique("burst")}`, {name: "ada"})
  await h.join(room)
  const replies = await Promise.all(Array.from({length: 20}, (_, n) => h.push(room, "ping", {n})))
  assert.deepEqual(replies, Array.from({length: 20}, (_, n) => ({status: "ok", response: {n}})))
})

scenario("a push made before the join reply is buffered and answered after the join", async (h) => {
  const socket = h.socket("client")
  const room = socket.channel(`room:${unique("early")}`, {name: "ada"})
  const joined = h.join(room)
  const reply = h.push(room, "ping", {early: true})
  socket.connect()
  await joined
  assert.deepEqual(await reply, {status: "ok", response: {early: true}})
})

scenario("an unknown event is answered with an error reply", async (h) => {
  const socket = h.socket("client")
  await h.connect(socket)
  const room = socket.channel(`room:${unique("unknown")}`, {name: "ada"})
  await h.join(room)
  const result = await h.push(room, "no_such_event", {})
  assert.equal(result.status, "error")
  assert.match(String(result.response && result.response.reason), /no_such_event/)
  // The channel survives an error reply.
  assert.deepEqual(await h.push(room, "ping", {still: "alive"}), {status: "ok", response: {still: "alive"}})
})

scenario("a join of a topic no channel matches is refused with reason unmatched topic", async (h) => {
  const socket = h.socket("client", {rejoinAfterMs: () => 60000})
  const seen = h.messages(socket)
  await h.connect(socket)
  const topic = `lobby:${unique("nowhere")}`
  const channel = socket.channel(topic, {})
  assert.deepEqual(await h.joinResult(channel), {status: "error", response: {reason: "unmatched topic"}})
  // Phoenix answers an unmatched topic with a null join_ref.
  const reply = seen.find(m => m.topic === topic && m.event === "phx_reply")
  assert.equal(reply.join_ref, null)
  // The refusal does not hurt the connection: another channel on it still works.
  const room = socket.channel(`room:${unique("after-refusal")}`, {name: "ada"})
  await h.join(room)
  assert.deepEqual(await h.push(room, "ping", {ok: 1}), {status: "ok", response: {ok: 1}})
})
