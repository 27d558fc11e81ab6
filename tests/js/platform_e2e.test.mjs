// The platform end to end: register → login → buy, and the buyer's phoenix client sees it live.
//
// Only what a real client has: the HTTP API (global fetch) and the official phoenix client on the
// platform socket (/socket, not the demo one), authenticated with the access token from login
// (the `token` param, and once the `authToken` option). The admin comes from `bitnexus seed`,
// which test_js_client.py runs before the server starts and whose credentials it passes here as
// BITNEXUS_ADMIN_EMAIL / BITNEXUS_ADMIN_PASSWORD.
//
// The harness records every HTTP exchange (its fetch wrapper) and socket frame, so a failure
// shows the bodies and frames the server actually sent.
import assert from "node:assert/strict"
import {WAIT_MS, scenario, sleep, unique} from "./helpers.mjs"

const BASE = process.env.BITNEXUS_URL.replace(/\/$/, "")
const API = `${BASE}/api/v1`
// helpers.mjs builds sockets for the demo mount; the platform mount's websocket endpoint is this.
const PLATFORM_ENDPOINT = BASE.replace(/^http/, "ws") + "/socket/websocket"
const ADMIN = {email: process.env.BITNEXUS_ADMIN_EMAIL, password: process.env.BITNEXUS_ADMIN_PASSWORD}
if(!ADMIN.email || !ADMIN.password){
  throw new Error("BITNEXUS_ADMIN_EMAIL / BITNEXUS_ADMIN_PASSWORD are not set (test_js_client.py seeds them)")
}
const PASSWORD = "correct-horse-battery-staple"
const UNAUTHORIZED = {status: "error", response: {reason: "unauthorized"}}

/** One API call; resolves with {status, headers, body (parsed JSON or null), text}. */
async function api(method, path, {token, body, headers = {}} = {}){
  const sent = {...headers}
  if(body !== undefined){ sent["content-type"] = "application/json" }
  if(token){ sent.authorization = `Bearer ${token}` }
  const response = await fetch(API + path, {
    method,
    headers: sent,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  })
  const text = await response.text()
  let parsed = null
  try { parsed = text ? JSON.parse(text) : null } catch { parsed = null }
  return {status: response.status, headers: response.headers, body: parsed, text}
}

/** `api(...)` that must answer `status`; the message carries the body when it does not. */
async function expect(status, method, path, options){
  const answer = await api(method, path, options)
  assert.equal(answer.status, status, `${method} ${path} answered ${answer.status}: ${answer.text}`)
  return answer
}

async function login(email, password = PASSWORD){
  const {body} = await expect(200, "POST", "/auth/login", {body: {email, password}})
  assert.equal(body.data.token_type, "bearer")
  assert.equal(typeof body.data.access_token, "string")
  return {token: body.data.access_token, user: body.data.user}
}

async function loginAdmin(){
  const admin = await login(ADMIN.email, ADMIN.password)
  assert.equal(admin.user.role, "admin")
  return admin
}

/** Registers a fresh account and logs it in: {token, user, email}. */
async function newUser(label, extra = {}){
  const email = `${unique(label)}@example.com`
  const {body} = await expect(201, "POST", "/auth/register", {body: {email, password: PASSWORD, ...extra}})
  assert.equal(body.data.email, email)
  assert.equal(body.data.role, "user")
  assert.equal(body.data.password_hash, undefined)
  const session = await login(email)
  assert.equal(session.user.id, body.data.id)
  return {...session, email}
}

async function createProduct(admin, priceMinor){
  const name = unique("e2e product")
  const {body} = await expect(201, "POST", "/products", {
    token: admin.token,
    body: {name, description: "made by platform_e2e.test.mjs", price_minor: priceMinor, currency: "USD"},
  })
  assert.equal(body.data.name, name)
  assert.deepEqual(body.data.price, {amount_minor: priceMinor, currency: "USD"})
  return body.data
}

async function credit(admin, user, amountMinor){
  const {body} = await expect(200, "POST", `/users/${user.id}/balance`, {
    token: admin.token,
    body: {amount_minor: amountMinor},
  })
  return body.data
}

/** A recorded phoenix Socket on the platform mount (not yet connected). */
function platformSocket(h, label, opts){
  const socket = h.socket(label, opts)
  socket.endPoint = PLATFORM_ENDPOINT
  return socket
}

/** Every payload of `event` the channel receives, in arrival order. */
function collect(channel, event){
  const seen = []
  channel.on(event, payload => seen.push(payload))
  return seen
}

scenario("register, login, buy: the buyer's client gets the notification live; a retry replays silently; a refund is broadcast", async (h) => {
  const admin = await loginAdmin()
  const product = await createProduct(admin, 1250)
  const buyer = await newUser("buyer", {display_name: "Buyer"})
  assert.deepEqual(buyer.user.balance, {amount_minor: 0, currency: "USD"})
  const credited = await credit(admin, buyer.user, 5000)
  assert.deepEqual(credited.balance, {amount_minor: 5000, currency: "USD"})

  const socket = platformSocket(h, "buyer", {params: {token: buyer.token}})
  await h.connect(socket)
  const inbox = socket.channel(`notification:${buyer.user.id}`)
  const notes = collect(inbox, "transaction")
  assert.deepEqual(await h.join(inbox), {})
  // Notifications are personal: not even the admin's may be joined by someone else.
  assert.deepEqual(await h.joinResult(socket.channel(`notification:${admin.user.id}`)), UNAUTHORIZED)

  const key = unique("idem")
  const purchase = {token: buyer.token, body: {product_id: product.id}, headers: {"idempotency-key": key}}
  const bought = await expect(201, "POST", "/transactions", purchase)
  const tx = bought.body.data
  assert.equal(tx.status, "completed")
  assert.equal(tx.user_id, buyer.user.id)
  assert.equal(tx.product_id, product.id)
  assert.deepEqual(tx.amount, {amount_minor: 1250, currency: "USD"})
  assert.equal(bought.headers.get("idempotent-replayed"), null)

  const pushed = await h.until("the transaction notification", () => notes[0])
  assert.equal(pushed.id, tx.id)
  assert.equal(pushed.status, "completed")
  assert.equal(pushed.user_id, buyer.user.id)
  assert.deepEqual(pushed.amount, {amount_minor: 1250, currency: "USD"})

  const retry = await expect(201, "POST", "/transactions", purchase)
  assert.equal(retry.headers.get("idempotent-replayed"), "true")
  assert.equal(retry.body.data.id, tx.id)
  assert.equal(retry.body.data.status, "completed")
  const me = await expect(200, "GET", "/users/me", {token: buyer.token})
  assert.deepEqual(me.body.data.balance, {amount_minor: 5000 - 1250, currency: "USD"}, "charged once")

  const live = socket.channel(`transaction:${tx.id}`)
  const statuses = collect(live, "status")
  const joined = await h.join(live)
  assert.equal(joined.transaction.id, tx.id)
  assert.equal(joined.transaction.status, "completed")

  const refunded = await expect(200, "POST", `/transactions/${tx.id}/refund`, {token: admin.token})
  assert.equal(refunded.body.data.status, "refunded")
  const change = await h.until("the refunded status broadcast", () => statuses.find(s => s.status === "refunded"))
  assert.equal(change.id, tx.id)
  assert.equal(change.previous, "completed")
  assert.deepEqual(statuses.map(s => s.status), ["refunded"])

  // The refund's notification is the next one the buyer gets: had the replayed purchase
  // announced anything, it would have arrived before it.
  await h.until("the refund notification", () => notes.find(n => n.status === "refunded"))
  assert.deepEqual(notes.map(n => [n.id, n.status]), [[tx.id, "completed"], [tx.id, "refunded"]])
}, {timeout: 15000})

scenario("a referred user's purchase reaches the affiliate live as a commission; only the affiliate may follow it", async (h) => {
  const admin = await loginAdmin()
  const product = await createProduct(admin, 2000)
  const candidate = await newUser("affiliate")
  const promoted = await expect(200, "PATCH", `/users/${candidate.user.id}`, {
    token: admin.token,
    body: {role: "affiliate"},
  })
  assert.equal(promoted.body.data.role, "affiliate")
  // The token carries the role, so the affiliate logs in again after the change.
  const affiliate = await login(candidate.email)
  assert.equal(affiliate.user.role, "affiliate")
  const referred = await newUser("referred", {referred_by: affiliate.user.id})
  assert.equal(referred.user.referred_by, affiliate.user.id)
  await credit(admin, referred.user, 10000)
  const stranger = await newUser("stranger")

  // The authToken option: the token travels as a Sec-WebSocket-Protocol entry, not in the URL.
  const affSocket = platformSocket(h, "affiliate", {authToken: affiliate.token})
  await h.connect(affSocket)
  assert.equal(affSocket.conn.protocol, "phoenix")
  assert.ok(!affSocket.endPointURL().includes("token="))
  const affInbox = affSocket.channel(`notification:${affiliate.user.id}`)
  const commissions = collect(affInbox, "commission")
  const affTransactions = collect(affInbox, "transaction")
  await h.join(affInbox)

  const {body} = await expect(201, "POST", "/transactions", {token: referred.token, body: {product_id: product.id}})
  const tx = body.data
  assert.equal(tx.status, "completed")

  const commission = await h.until("the commission notification", () => commissions[0])
  assert.equal(commission.transaction_id, tx.id)
  assert.equal(commission.affiliate_id, affiliate.user.id)
  assert.equal(commission.amount.currency, "USD")
  assert.ok(commission.amount.amount_minor > 0 && commission.amount.amount_minor < 2000,
    `commission amount ${JSON.stringify(commission.amount)}`)
  assert.equal(commission.reversed_at, null)
  assert.deepEqual(affTransactions, [], "the referred user's own notification must not reach the affiliate")
  const listed = await expect(200, "GET", "/commissions", {token: affiliate.token})
  assert.deepEqual(listed.body.data.map(c => c.id), [commission.id])

  const followed = await h.join(affSocket.channel(`transaction:${tx.id}`))
  assert.equal(followed.transaction.id, tx.id)
  assert.equal(followed.transaction.user_id, referred.user.id)

  const strangerSocket = platformSocket(h, "stranger", {params: {token: stranger.token}})
  await h.connect(strangerSocket)
  assert.deepEqual(await h.joinResult(strangerSocket.channel(`transaction:${tx.id}`)), UNAUTHORIZED)
  assert.deepEqual(await h.joinResult(strangerSocket.channel(`notification:${affiliate.user.id}`)), UNAUTHORIZED)
}, {timeout: 15000})

scenario("a socket with a bad token never connects, so no join succeeds", async (h) => {
  const admin = await loginAdmin()
  // A real token with its signature changed: well formed, correct claims, not ours.
  const [head, claims, signature] = admin.token.split(".")
  const forged = `${head}.${claims}.${signature[0] === "A" ? "B" : "A"}${signature.slice(1)}`
  const attempts = [
    ["garbage", {params: {token: "not-a-jwt"}}],
    ["forged", {params: {token: forged}}],
    ["forged-authToken", {authToken: forged}],
  ].map(([label, opts]) => {
    const socket = platformSocket(h, label, opts)
    const seen = {opens: 0, errors: 0, closes: 0, join: []}
    socket.onOpen(() => seen.opens++)
    socket.onError(() => seen.errors++)
    socket.onClose(() => seen.closes++)
    socket.connect()
    // The join is only buffered, and each refused connection resets its timer, so the client
    // reports nothing at all: watch for any outcome over a fixed window instead.
    socket.channel(`notification:${admin.user.id}`).join()
      .receive("ok", response => seen.join.push(["ok", response]))
      .receive("error", response => seen.join.push(["error", response]))
      .receive("timeout", () => seen.join.push(["timeout"]))
    return {label, socket, seen}
  })
  // Long enough for the client to retry several times (its back-off starts at 10 ms).
  await sleep(1500)
  for(const {label, socket, seen} of attempts){
    assert.ok(!seen.join.some(([status]) => status === "ok"), `${label}: ${JSON.stringify(seen)}`)
    assert.equal(seen.opens, 0, `${label}: ${JSON.stringify(seen)}`)
    assert.ok(seen.errors >= 2 && seen.closes >= 2, `${label} refused and retried: ${JSON.stringify(seen)}`)
    assert.equal(socket.isConnected(), false)
  }

  // The same server and admin, with the real token, connect and join at once.
  const control = platformSocket(h, "control", {params: {token: admin.token}})
  await h.connect(control)
  const inbox = control.channel(`notification:${admin.user.id}`)
  assert.deepEqual(await h.join(inbox), {})
}, {timeout: 15000})
