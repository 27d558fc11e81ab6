// Leave: the channel closes on the client and the server stops delivering to it.
import assert from "node:assert/strict"
import {scenario, sleep, unique} from "./helpers.mjs"

function leave(h, channel){
  return new Promise(resolve => {
    channel.leave(2000)
      .receive("ok", () => resolve("ok"))
      .receive("timeout", () => resolve("timeout"))
  })
}

scenario("leaving is acknowledged, fires onClose, and the server closes the channel", async (h) => {
  const socket = h.socket("client")
  const seen = h.messages(socket)
  await h.connect(socket)
  const topic = `room:${unique("leave")}`
  const room = socket.channel(topic, {name: "ada"})
  await h.join(room)
  const joinRef = room.joinRef()
  let closed = 0
  room.onClose(() => closed++)

  assert.equal(await leave(h, room), "ok")
  assert.equal(closed, 1)
  assert.equal(room.state, "closed")
  // Phoenix replies ok to phx_leave and then sends phx_close with ref = join_ref.
  const close = await h.until("phx_close from the server", () =>
    seen.find(m => m.topic === topic && m.event === "phx_close"))
  assert.equal(close.join_ref, joinRef)
  assert.equal(close.ref, joinRef)
  // The connection itself stays usable.
  assert.equal(socket.isConnected(), true)
})

scenario("after leaving, a push is not delivered and broadcasts stop arriving", async (h) => {
  const topic = `room:${unique("after-leave")}`
  const ada = h.socket("ada")
  const bob = h.socket("bob")
  const adaSeen = h.messages(ada)
  await Promise.all([h.connect(ada), h.connect(bob)])
  const adaRoom = ada.channel(topic, {name: "ada"})
  const bobRoom = bob.channel(topic, {name: "bob"})
  await Promise.all([h.join(adaRoom), h.join(bobRoom)])
  assert.equal(await leave(h, adaRoom), "ok")

  // A push on a left channel never reaches the server: the client buffers it and it times out.
  const result = await h.push(adaRoom, "ping", {too: "late"}, 300)
  assert.equal(result.status, "timeout")

  const bobGets = h.next(bobRoom, "shout")
  h.cast(bobRoom, "shout", {body: "ada is gone"})
  assert.deepEqual(await bobGets, {body: "ada is gone"})
  await sleep(150)
  assert.equal(adaSeen.filter(m => m.topic === topic && m.event === "shout").length, 0,
    "the server still delivered a shout to the connection that left the room")
})

scenario("the same topic can be joined again after leaving it", async (h) => {
  const socket = h.socket("client")
  await h.connect(socket)
  const topic = `room:${unique("rejoin")}`
  const first = socket.channel(topic, {name: "ada"})
  await h.join(first)
  assert.equal(await leave(h, first), "ok")
  const second = socket.channel(topic, {name: "ada"})
  await h.join(second)
  assert.deepEqual(await h.push(second, "ping", {again: true}), {status: "ok", response: {again: true}})
})
