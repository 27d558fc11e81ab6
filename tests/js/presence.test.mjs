// Presence with the JS Presence object: the demo room tracks each member under its join param
// `name`, pushes presence_state after the join, and the tracker broadcasts presence_diff.
import assert from "node:assert/strict"
import {Presence} from "phoenix"
import {scenario, unique} from "./helpers.mjs"

function names(presence){ return presence.list(key => key).sort() }

async function member(h, topic, name){
  const socket = h.socket(name)
  await h.connect(socket)
  const channel = socket.channel(topic, {name})
  const presence = new Presence(channel)
  const joins = []
  const leaves = []
  presence.onJoin(key => joins.push(key))
  presence.onLeave((key, current) => leaves.push({key, remaining: current ? current.metas.length : 0}))
  await h.join(channel)
  return {socket, channel, presence, joins, leaves}
}

scenario("two members each see both in presence.list()", async (h) => {
  const topic = `room:${unique("presence")}`
  const ada = await member(h, topic, "ada")
  await h.until("ada to see herself", () => names(ada.presence).includes("ada"))
  const bob = await member(h, topic, "bob")
  await h.until("bob to see ada and bob", () => names(bob.presence).join() === "ada,bob")
  await h.until("ada to see ada and bob", () => names(ada.presence).join() === "ada,bob")
  assert.ok(ada.joins.includes("bob"), "ada's onJoin did not fire for bob")
  // Each entry is {metas: [...]} and every meta carries an opaque phx_ref plus the app's meta.
  const entries = ada.presence.list((key, entry) => ({key, entry}))
  for(const {key, entry} of entries){
    assert.equal(entry.metas.length, 1, `${key} has ${entry.metas.length} metas`)
    const [meta] = entry.metas
    assert.equal(typeof meta.phx_ref, "string")
    assert.ok(meta.phx_ref.length > 0)
    assert.match(String(meta.online_at), /^\d+$/)
  }
  const refs = entries.map(({entry}) => entry.metas[0].phx_ref)
  assert.equal(new Set(refs).size, refs.length, "phx_refs are not unique")
})

scenario("when bob leaves, ada's onLeave fires and her list shrinks to ada", async (h) => {
  const topic = `room:${unique("presence-leave")}`
  const ada = await member(h, topic, "ada")
  const bob = await member(h, topic, "bob")
  await h.until("ada to see ada and bob", () => names(ada.presence).join() === "ada,bob")

  await new Promise(resolve => bob.channel.leave(2000).receive("ok", resolve).receive("timeout", resolve))
  await h.until("ada's onLeave for bob", () => ada.leaves.some(l => l.key === "bob"))
  assert.deepEqual(ada.leaves.find(l => l.key === "bob"), {key: "bob", remaining: 0})
  await h.until("ada's list to shrink to ada", () => names(ada.presence).join() === "ada")
})

scenario("a member whose connection drops leaves the others' lists", async (h) => {
  const topic = `room:${unique("presence-drop")}`
  const ada = await member(h, topic, "ada")
  const bob = await member(h, topic, "bob")
  await h.until("ada to see ada and bob", () => names(ada.presence).join() === "ada,bob")
  await new Promise(resolve => bob.socket.disconnect(resolve))
  await h.until("ada's list to shrink to ada", () => names(ada.presence).join() === "ada")
  assert.ok(ada.leaves.some(l => l.key === "bob"))
})

scenario("two connections under one name show as one key with two metas", async (h) => {
  const topic = `room:${unique("presence-tabs")}`
  const tab1 = await member(h, topic, "ada")
  const tab2 = await member(h, topic, "ada")
  await h.until("two metas under ada", () => {
    const [entry] = tab1.presence.list((key, e) => e)
    return entry && entry.metas.length === 2
  })
  assert.deepEqual(names(tab1.presence), ["ada"])
  await new Promise(resolve => tab2.socket.disconnect(resolve))
  await h.until("one meta under ada", () => {
    const [entry] = tab1.presence.list((key, e) => e)
    return entry && entry.metas.length === 1
  })
  assert.deepEqual(tab1.leaves, [{key: "ada", remaining: 1}])
})
