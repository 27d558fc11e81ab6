// Binary payloads: an ArrayBuffer push travels as a V2 binary frame, and the reply comes back as
// a binary reply frame the client turns into an ArrayBuffer.
import assert from "node:assert/strict"
import {scenario, unique} from "./helpers.mjs"

function bytes(buffer){
  assert.ok(buffer instanceof ArrayBuffer, `expected an ArrayBuffer, got ${Object.prototype.toString.call(buffer)}: ${JSON.stringify(buffer)}`)
  return Array.from(new Uint8Array(buffer))
}

async function joinedRoom(h){
  const socket = h.socket("client")
  await h.connect(socket)
  const room = socket.channel(`room:${unique("bin")}`, {name: "ada"})
  await h.join(room)
  return room
}

scenario("a binary ping is answered with an ArrayBuffer holding the same bytes", async (h) => {
  const room = await joinedRoom(h)
  const sent = new Uint8Array([1, 2, 3, 0, 255, 128, 10, 13])
  const result = await h.push(room, "ping", sent.buffer)
  assert.equal(result.status, "ok")
  assert.deepEqual(bytes(result.response), Array.from(sent))
})

scenario("every byte value and a 64 KiB payload survive the round trip", async (h) => {
  const room = await joinedRoom(h)
  const all = new Uint8Array(256).map((_, i) => i)
  assert.deepEqual(bytes((await h.push(room, "ping", all.buffer)).response), Array.from(all))
  const big = new Uint8Array(65536).map((_, i) => (i * 31 + 7) & 0xff)
  const reply = await h.push(room, "ping", big.buffer)
  assert.equal(reply.status, "ok")
  assert.ok(Buffer.from(new Uint8Array(reply.response)).equals(Buffer.from(big)), "the 64 KiB reply differs")
})

scenario("an empty binary payload is answered with an empty ArrayBuffer", async (h) => {
  const room = await joinedRoom(h)
  const result = await h.push(room, "ping", new ArrayBuffer(0))
  assert.equal(result.status, "ok")
  assert.deepEqual(bytes(result.response), [])
})

scenario("binary and JSON pushes can be mixed on one channel", async (h) => {
  const room = await joinedRoom(h)
  const [a, b, c] = await Promise.all([
    h.push(room, "ping", new Uint8Array([9, 9]).buffer),
    h.push(room, "ping", {json: true}),
    h.push(room, "ping", new Uint8Array([7]).buffer),
  ])
  assert.deepEqual(bytes(a.response), [9, 9])
  assert.deepEqual(b, {status: "ok", response: {json: true}})
  assert.deepEqual(bytes(c.response), [7])
})
