// Channel crash: the server sends phx_error, the client rejoins by itself (first rejoin ~1 s later)
// and the channel works again; the connection and other channels are unaffected.
import assert from "node:assert/strict"
import {scenario, unique} from "./helpers.mjs"

scenario("after a crash the client rejoins within 3 s and ping works again", async (h) => {
  const socket = h.socket("client")
  const seen = h.messages(socket)
  await h.connect(socket)
  const topic = `room:${unique("crash")}`
  const room = socket.channel(topic, {name: "ada"})
  await h.join(room)
  const firstJoinRef = room.joinRef()

  let errored = 0
  let erroredAt = 0
  room.onError(() => { errored++; erroredAt = erroredAt || Date.now() })
  h.cast(room, "boom", {})

  const crash = await h.until("phx_error for the crashed channel", () =>
    seen.find(m => m.topic === topic && m.event === "phx_error"))
  // Phoenix: ["3","3",topic,"phx_error",{"reason":"channel_crash"}] with ref = join_ref.
  assert.equal(crash.join_ref, firstJoinRef)
  assert.equal(crash.ref, firstJoinRef)
  assert.equal(errored, 1)

  await h.until("the rejoin to succeed", () => room.state === "joined" && room.joinRef() !== firstJoinRef, 3500)
  const elapsed = Date.now() - erroredAt
  assert.ok(elapsed < 3000, `the rejoin took ${elapsed} ms`)
  assert.deepEqual(await h.push(room, "ping", {after: "crash"}), {status: "ok", response: {after: "crash"}})
  assert.equal(socket.isConnected(), true, "the crash took the connection down")
})

scenario("a crash in one channel leaves the other channels on the connection working", async (h) => {
  const socket = h.socket("client")
  let closes = 0
  socket.onClose(() => closes++)
  await h.connect(socket)
  const doomed = socket.channel(`room:${unique("doomed")}`, {name: "ada"})
  const calm = socket.channel(`room:${unique("calm")}`, {name: "ada"})
  await Promise.all([h.join(doomed), h.join(calm)])
  const errored = new Promise(resolve => doomed.onError(resolve))
  h.cast(doomed, "boom", {})
  await errored
  assert.deepEqual(await h.push(calm, "ping", {calm: true}), {status: "ok", response: {calm: true}})
  assert.equal(calm.state, "joined")
  assert.equal(closes, 0)
})

scenario("a push made while the channel is errored is answered once it has rejoined", async (h) => {
  const socket = h.socket("client")
  await h.connect(socket)
  const room = socket.channel(`room:${unique("buffered")}`, {name: "ada"})
  await h.join(room)
  const errored = new Promise(resolve => room.onError(resolve))
  h.cast(room, "boom", {})
  await errored
  // The client buffers it while errored and sends it after the rejoin.
  assert.deepEqual(await h.push(room, "ping", {buffered: true}, 4000), {status: "ok", response: {buffered: true}})
})
