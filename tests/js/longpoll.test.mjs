// The long-poll transport: the same channel behaviour over {mount}/longpoll (GET polls, ndjson
// POSTs). Node 20 has no XMLHttpRequest; phoenix 1.8.16's Ajax falls back to fetch.
import assert from "node:assert/strict"
import {LongPoll, WebSocket, scenario, sleep, unique} from "./helpers.mjs"

scenario("a long-poll socket opens, joins a room and gets its ping answered", async (h) => {
  const socket = h.socket("lp", {transport: LongPoll})
  await h.connect(socket)
  assert.equal(socket.transportName(socket.transport), "LongPoll")
  const room = socket.channel(`room:${unique("lp")}`, {name: "ada"})
  assert.deepEqual(await h.join(room), {})
  assert.deepEqual(await h.push(room, "ping", {over: "longpoll"}), {status: "ok", response: {over: "longpoll"}})
})

scenario("pushes batched into one POST are all answered", async (h) => {
  const socket = h.socket("lp", {transport: LongPoll})
  await h.connect(socket)
  const room = socket.channel(`room:${unique("lp-batch")}`, {name: "ada"})
  await h.join(room)
  // Pushes in the same tick go out as one application/x-ndjson POST.
  const replies = await Promise.all(Array.from({length: 10}, (_, n) => h.push(room, "ping", {n})))
  assert.deepEqual(replies, Array.from({length: 10}, (_, n) => ({status: "ok", response: {n}})))
})

scenario("a shout over long poll reaches the long-poll sender and a websocket member", async (h) => {
  const topic = `room:${unique("lp-shout")}`
  const lp = h.socket("lp", {transport: LongPoll})
  const ws = h.socket("ws", {transport: WebSocket})
  await Promise.all([h.connect(lp), h.connect(ws)])
  const lpRoom = lp.channel(topic, {name: "ada"})
  const wsRoom = ws.channel(topic, {name: "bob"})
  await Promise.all([h.join(lpRoom), h.join(wsRoom)])

  const lpGets = h.next(lpRoom, "shout")
  const wsGets = h.next(wsRoom, "shout")
  h.cast(lpRoom, "shout", {body: "from long poll"})
  assert.deepEqual(await lpGets, {body: "from long poll"})
  assert.deepEqual(await wsGets, {body: "from long poll"})

  // And the other way round: a websocket shout reaches the long-poll client through its poll.
  const lpGets2 = h.next(lpRoom, "shout")
  h.cast(wsRoom, "shout", {body: "from websocket"})
  assert.deepEqual(await lpGets2, {body: "from websocket"})
})

scenario("a long-poll session stays open across idle poll windows", async (h) => {
  const socket = h.socket("lp", {transport: LongPoll})
  let closes = 0
  socket.onClose(() => closes++)
  await h.connect(socket)
  const room = socket.channel(`room:${unique("lp-idle")}`, {name: "ada"})
  await h.join(room)
  // The test server runs with a 2 s poll window, so this spans at least one empty (204) poll.
  await sleep(2600)
  assert.equal(closes, 0)
  assert.deepEqual(await h.push(room, "ping", {still: "here"}), {status: "ok", response: {still: "here"}})
}, {timeout: 14000})

scenario("a long-poll client can push binary (a base64 ndjson line) to the server", async (h) => {
  const lp = h.socket("lp", {transport: LongPoll})
  await h.connect(lp)
  const room = lp.channel(`room:${unique("lp-bin")}`, {name: "ada"})
  await h.join(room)
  // Server-to-client binary does not exist over long poll, so the binary push uses an event whose
  // reply is JSON: an unknown event, answered with an error naming it.
  const result = await h.push(room, "bin_upload", new Uint8Array([0, 1, 2, 255]).buffer)
  assert.equal(result.status, "error")
  assert.match(String(result.response && result.response.reason), /bin_upload/)
  assert.deepEqual(await h.push(room, "ping", {after: "binary"}), {status: "ok", response: {after: "binary"}})
})

scenario("a long-poll disconnect by id is noticed and the client reconnects and rejoins", async (h) => {
  const socket = h.socket("lp", {transport: LongPoll, params: {user_id: unique("lp-u")}})
  await h.connect(socket)
  const room = socket.channel(`room:${unique("lp-dc")}`, {name: "ada"})
  await h.join(room)
  const firstJoinRef = room.joinRef()
  let closes = 0
  socket.onClose(() => closes++)
  h.cast(room, "disconnect", {})
  // Phoenix notices on the next poll at the latest (the test server's poll window is 2 s).
  await h.until("the session to end", () => closes > 0, 6000)
  await h.until("the rejoin", () => socket.isConnected() && room.state === "joined" && room.joinRef() !== firstJoinRef, 4000)
  assert.deepEqual(await h.push(room, "ping", {back: true}), {status: "ok", response: {back: true}})
}, {timeout: 14000})
