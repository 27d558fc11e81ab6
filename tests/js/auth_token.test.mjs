// authToken: the client offers the subprotocols ["phoenix", "base64url.bearer.phx.<token>"];
// the server must accept and echo "phoenix" or the handshake fails.
import assert from "node:assert/strict"
import {scenario, unique} from "./helpers.mjs"

scenario("a socket with an authToken connects and the server selects the phoenix subprotocol", async (h) => {
  const socket = h.socket("client", {authToken: "s3cr3t-token"})
  let closes = 0
  socket.onClose(() => closes++)
  await h.connect(socket)
  assert.equal(socket.conn.protocol, "phoenix")
  const room = socket.channel(`room:${unique("auth")}`, {name: "ada"})
  await h.join(room)
  assert.deepEqual(await h.push(room, "ping", {authed: true}), {status: "ok", response: {authed: true}})
  assert.equal(closes, 0)
})

scenario("a token whose standard base64 has a + and needs padding still connects", async (h) => {
  // btoa("??>a") is "Pz8+YQ==": standard (not URL-safe) base64, whose "==" the client strips.
  // (A token whose base64 holds "/" cannot be sent at all: "/" is not allowed in a subprotocol,
  // so ws, like browsers, throws before connecting. That is a client limitation.)
  const socket = h.socket("client", {authToken: () => "??>a"})
  await h.connect(socket)
  assert.equal(socket.conn.protocol, "phoenix")
})
