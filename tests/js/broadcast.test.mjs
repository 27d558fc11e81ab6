// Broadcast: a shout reaches every member of the room, the sender included.
import assert from "node:assert/strict"
import {scenario, sleep, unique} from "./helpers.mjs"

scenario("a shout reaches both connected clients, the sender included", async (h) => {
  const topic = `room:${unique("shout")}`
  const ada = h.socket("ada")
  const bob = h.socket("bob")
  await Promise.all([h.connect(ada), h.connect(bob)])
  const adaRoom = ada.channel(topic, {name: "ada"})
  const bobRoom = bob.channel(topic, {name: "bob"})
  await Promise.all([h.join(adaRoom), h.join(bobRoom)])

  const adaGets = h.next(adaRoom, "shout")
  const bobGets = h.next(bobRoom, "shout")
  h.cast(adaRoom, "shout", {body: "hello room", from: "ada"})
  assert.deepEqual(await adaGets, {body: "hello room", from: "ada"})
  assert.deepEqual(await bobGets, {body: "hello room", from: "ada"})
})

scenario("shouts arrive at every member in the order they were sent", async (h) => {
  const topic = `room:${unique("order")}`
  const ada = h.socket("ada")
  const bob = h.socket("bob")
  await Promise.all([h.connect(ada), h.connect(bob)])
  const adaRoom = ada.channel(topic, {name: "ada"})
  const bobRoom = bob.channel(topic, {name: "bob"})
  await Promise.all([h.join(adaRoom), h.join(bobRoom)])

  const got = {ada: [], bob: []}
  adaRoom.on("shout", p => got.ada.push(p.n))
  bobRoom.on("shout", p => got.bob.push(p.n))
  for(let n = 0; n < 25; n++){ h.cast(bobRoom, "shout", {n}) }
  const expected = Array.from({length: 25}, (_, n) => n)
  await h.until("25 shouts at both clients", () => got.ada.length >= 25 && got.bob.length >= 25)
  await sleep(100) // nothing extra (no duplicates) arrives afterwards
  assert.deepEqual(got.ada, expected)
  assert.deepEqual(got.bob, expected)
})

scenario("a shout does not reach a client in another room", async (h) => {
  const ada = h.socket("ada")
  const eve = h.socket("eve")
  await Promise.all([h.connect(ada), h.connect(eve)])
  const adaRoom = ada.channel(`room:${unique("here")}`, {name: "ada"})
  const eveRoom = eve.channel(`room:${unique("elsewhere")}`, {name: "eve"})
  await Promise.all([h.join(adaRoom), h.join(eveRoom)])
  let eveShouts = 0
  eveRoom.on("shout", () => eveShouts++)
  const adaGets = h.next(adaRoom, "shout")
  h.cast(adaRoom, "shout", {body: "only here"})
  await adaGets
  await sleep(150)
  assert.equal(eveShouts, 0)
})
