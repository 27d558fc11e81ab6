// Disconnect by socket id: the server closes every connection of that id with 1001, and the
// client reconnects by itself and rejoins its channels.
import assert from "node:assert/strict"
import {scenario, sleep, unique} from "./helpers.mjs"

scenario("a disconnect closes the connection with 1001, then the client reconnects and rejoins", async (h) => {
  const userId = unique("u1")
  const socket = h.socket("u1", {params: {user_id: userId}})
  const closes = []
  socket.onClose(event => closes.push(event.code))
  await h.connect(socket)
  const room = socket.channel(`room:${unique("dc")}`, {name: "ada"})
  await h.join(room)
  const firstJoinRef = room.joinRef()

  h.cast(room, "disconnect", {})
  await h.until("the server to close the connection", () => closes.length > 0)
  const closedAt = Date.now()
  assert.equal(closes[0], 1001, `close code ${closes[0]}, expected 1001 (going away, so clients reconnect)`)

  await h.until("the reconnect and rejoin", () =>
    socket.isConnected() && room.state === "joined" && room.joinRef() !== firstJoinRef)
  const elapsed = Date.now() - closedAt
  assert.ok(elapsed < 3000, `reconnect and rejoin took ${elapsed} ms`)
  assert.deepEqual(await h.push(room, "ping", {back: true}), {status: "ok", response: {back: true}})
  assert.equal(closes.length, 1, `closed ${closes.length} times`)
})

scenario("a disconnect closes every connection of that id and no other", async (h) => {
  const userId = unique("u1")
  const tab1 = h.socket("tab1", {params: {user_id: userId}})
  const tab2 = h.socket("tab2", {params: {user_id: userId}})
  const other = h.socket("other", {params: {user_id: unique("u2")}})
  const anonymous = h.socket("anonymous")
  const closes = {tab1: [], tab2: [], other: [], anonymous: []}
  for(const s of [tab1, tab2, other, anonymous]){ s.onClose(event => closes[s.label].push(event.code)) }
  await Promise.all([tab1, tab2, other, anonymous].map(s => h.connect(s)))
  const room = tab1.channel(`room:${unique("dc-all")}`, {name: "ada"})
  await h.join(room)

  h.cast(room, "disconnect", {})
  await h.until("both connections of the id to close", () => closes.tab1.length > 0 && closes.tab2.length > 0)
  assert.equal(closes.tab1[0], 1001)
  assert.equal(closes.tab2[0], 1001)
  await sleep(200)
  assert.deepEqual(closes.other, [])
  assert.deepEqual(closes.anonymous, [])
  await h.until("both tabs to be connected again", () => tab1.isConnected() && tab2.isConnected())
})
