// Shared harness for the phoenix-client protocol tests.
//
// Every scenario gets a Harness that creates phoenix Sockets against the BitNexus demo socket,
// records every frame they send and receive (plus opens, closes and errors, and for long poll
// every HTTP exchange), bounds every wait with a timeout, and disconnects every socket at the end.
// When a scenario fails, the recorded transcript is appended to the error so the frames the server
// actually sent are visible in the test output.
//
// Node notes:
// - Node 20 has no global WebSocket, so sockets use the `ws` package (`transport: WebSocket`).
// - phoenix 1.8.16's LongPoll goes through `Ajax.request`, which uses XMLHttpRequest when the
//   global exists and otherwise falls back to `fetch` + `AbortController`. Both are globals in
//   Node 20, so long poll works without an XMLHttpRequest polyfill.

import {test} from "node:test"
import {LongPoll, Socket} from "phoenix"
import WebSocket from "ws"

export {LongPoll, WebSocket}

const base = process.env.BITNEXUS_URL
if(!base){ throw new Error("BITNEXUS_URL is not set (e.g. http://127.0.0.1:4000)") }

/** The demo socket mount as the phoenix client wants it (ws://; LongPoll rewrites it to http://). */
export const SOCKET_URL = base.replace(/^http/, "ws").replace(/\/$/, "") + "/demo/socket"

/** Upper bound for a single wait inside a scenario. */
export const WAIT_MS = 3000

/** A name unique to this run, so scenarios never share rooms or socket ids across runs. */
export function unique(prefix){
  return `${prefix}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`
}

export const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))

/** Rejects with `what` if `promise` does not settle within `ms`. */
export function within(ms, what, promise){
  let timer
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

function describeData(data){
  if(typeof data === "string"){ return data }
  const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer || data)
  return `<binary ${bytes.length} bytes: ${Buffer.from(bytes).toString("hex")}>`
}

let activeHarness = null
const realFetch = globalThis.fetch

// phoenix's Ajax looks fetch up on every request, so wrapping the global records the long-poll
// HTTP exchanges of the running scenario (tokens shortened, they are noise).
globalThis.fetch = async function recordingFetch(url, options = {}){
  const harness = activeHarness
  const shown = String(url).replace(/token=[^&]{12,}/g, m => m.slice(0, 18) + "…")
  harness && harness.record("http", `${options.method || "GET"} ${shown} ${options.body ? JSON.stringify(options.body) : ""}`)
  const response = await realFetch(url, options)
  if(!harness){ return response }
  const text = await response.text()
  harness.record("http", `← HTTP ${response.status} ${text.replace(/"token":"[^"]{12,}"/g, "\"token\":\"…\"")}`)
  return new Response(text, {status: response.status, headers: response.headers})
}

export class Harness {
  constructor(){
    this.started = Date.now()
    this.lines = []
    this.sockets = []
    this.casts = []
  }

  record(who, text){
    this.lines.push(`${String(Date.now() - this.started).padStart(5)} ms ${who} ${text}`)
  }

  transcript(){ return this.lines.join("\n") }

  /**
   * A connected-on-demand phoenix Socket against the demo mount, recording its frames.
   * `opts` go to `new Socket` (transport defaults to the ws WebSocket). Call `connect(socket)`.
   */
  socket(label, opts = {}){
    const harness = this
    const Base = opts.transport || WebSocket
    // The transport subclass records outgoing frames exactly as phoenix encoded them.
    class Recording extends Base {
      send(data){
        harness.record(label, `→ ${describeData(data)}`)
        return super.send(data)
      }
    }
    Object.defineProperty(Recording, "name", {value: Base.name})
    const socket = new Socket(SOCKET_URL, {timeout: WAIT_MS, ...opts, transport: Recording})
    const onConnMessage = socket.onConnMessage.bind(socket)
    socket.onConnMessage = (event) => {
      this.record(label, `← ${describeData(event.data)}`)
      onConnMessage(event)
    }
    socket.onOpen(() => this.record(label, "open"))
    socket.onClose(event => this.record(label, `close code=${event && event.code} reason=${event && JSON.stringify(event.reason)}`))
    socket.onError(error => this.record(label, `error ${error && (error.message || error.type || error)}`))
    socket.label = label
    this.sockets.push(socket)
    return socket
  }

  /** Connects `socket` and resolves once it is open. */
  connect(socket){
    const opened = new Promise(resolve => {
      const ref = socket.onOpen(() => { socket.off([ref]); resolve() })
    })
    socket.connect()
    return within(WAIT_MS, `${socket.label} to open`, opened)
  }

  /** Resolves with `{status, response}` of the channel's join reply (ok, error or timeout). */
  joinResult(channel){
    return within(WAIT_MS + 500, `the join reply on ${channel.topic}`, new Promise(resolve => {
      channel.join()
        .receive("ok", response => resolve({status: "ok", response}))
        .receive("error", response => resolve({status: "error", response}))
        .receive("timeout", () => resolve({status: "timeout"}))
    }))
  }

  /** Joins and resolves with the ok response; rejects on any other outcome. */
  async join(channel){
    const result = await this.joinResult(channel)
    if(result.status !== "ok"){
      throw new Error(`join of ${channel.topic} answered ${JSON.stringify(result)}`)
    }
    return result.response
  }

  /** Pushes and resolves with `{status, response}` (status "timeout" if no reply came). */
  push(channel, event, payload, timeout = WAIT_MS){
    return within(timeout + 500, `the reply to ${event} on ${channel.topic}`, new Promise(resolve => {
      channel.push(event, payload, timeout)
        .receive("ok", response => resolve({status: "ok", response}))
        .receive("error", response => resolve({status: "error", response}))
        .receive("timeout", () => resolve({status: "timeout"}))
    }))
  }

  /** Pushes an event that gets no reply (shout, boom, disconnect); its timer is cleared at the end. */
  cast(channel, event, payload){
    const push = channel.push(event, payload, WAIT_MS)
    this.casts.push(push)
    return push
  }

  /** Resolves with the payload of the next `event` the channel receives. */
  next(channel, event, timeout = WAIT_MS){
    return within(timeout, `${event} on ${channel.topic}`, new Promise(resolve => {
      const ref = channel.on(event, payload => { channel.off(event, ref); resolve(payload) })
    }))
  }

  /** Polls `predicate` every 10 ms until it returns a truthy value, which is resolved. */
  async until(what, predicate, timeout = WAIT_MS){
    const deadline = Date.now() + timeout
    for(;;){
      const value = predicate()
      if(value){ return value }
      if(Date.now() > deadline){ throw new Error(`timed out after ${timeout} ms waiting for ${what}`) }
      await sleep(10)
    }
  }

  /** Every decoded message a socket receives, for assertions on raw protocol fields. */
  messages(socket){
    const seen = []
    socket.onMessage(msg => seen.push(msg))
    return seen
  }

  async close(){
    // An unanswered push keeps a timer for WAIT_MS, which would hold node's event loop open.
    for(const push of this.casts){ push.cancelTimeout() }
    await Promise.all(this.sockets.map(socket => within(2000, `${socket.label} to disconnect`,
      new Promise(resolve => socket.disconnect(resolve))).catch(() => {})))
    // Leaving while disconnected closes each channel at once and clears its rejoin timer, which
    // would otherwise keep node's event loop (and so the test file) alive.
    for(const socket of this.sockets){
      for(const channel of [...socket.channels]){ channel.leave() }
    }
  }
}

/**
 * Registers a node:test test running `body(harness)` with a hard deadline. On failure the frame
 * transcript is appended to the error message; the sockets are always disconnected.
 */
export function scenario(name, body, {timeout = 10000} = {}){
  test(name, {timeout: timeout + 3000}, async () => {
    const harness = new Harness()
    activeHarness = harness
    try {
      await within(timeout, `the scenario "${name}"`, body(harness))
      if(process.env.BITNEXUS_JS_TRACE){ console.log(`--- frames of "${name}" ---\n${harness.transcript()}`) }
    } catch(error){
      // Reporters print the stack (which already holds the message), so extend both.
      const frames = `\n--- frames seen (client view) ---\n${harness.transcript()}`
      error.message += frames
      if(typeof error.stack === "string"){ error.stack += frames }
      throw error
    } finally {
      await harness.close()
      activeHarness = null
    }
  })
}
