"""Presence: track/untrack/update, diffs in change order, exits, fetch, and
the demo's presence flow over a real WebSocket (reference §4.1, §8 #8)."""

from __future__ import annotations

import asyncio
import base64
import re
import struct
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from bitnexus.actors import Actor, Node, Pid
from bitnexus.actors.testing import Probe
from bitnexus.channels.presence import (
    AlreadyTracked,
    NoPresence,
    Presence,
    make_ref_generator,
)
from bitnexus.channels.protocol import Broadcast
from bitnexus.config import load_settings
from bitnexus.exceptions import Misuse
from bitnexus.pubsub import PubSub, PubSubServer
from bitnexus.server import build_server
from bitnexus.supervision import Application, ChildSpec

from .support import WSClient, ws_client

TOPIC = "room:lobby"
REF = re.compile(r"[A-Za-z0-9_-]{16}")


class Member(Actor):
    """Stands for a channel process: crashes on demand."""

    async def handle_cast(self, message: Any) -> None:
        raise RuntimeError(f"member crashed on purpose: {message}")


async def start_app(
    node: Node, presence_cls: type[Presence] = Presence
) -> tuple[Presence, Application]:
    pubsub = PubSub(node)
    presence = presence_cls(pubsub)
    children = [ChildSpec.for_actor(PubSubServer, pubsub, id="pubsub"), *presence.child_specs()]
    app = Application(children, node=node, shutdown_timeout=2.0)
    await app.start()
    return presence, app


@pytest.fixture
async def presence(node: Node) -> AsyncIterator[Presence]:
    presence, app = await start_app(node)
    yield presence
    await app.stop()


@pytest.fixture
async def listener(node: Node, presence: Presence) -> Probe:
    """A process subscribed to TOPIC: it receives every presence_diff."""
    probe = await Probe.start(node)
    presence.pubsub.subscribe(probe.pid, TOPIC)
    return probe


async def member(node: Node) -> Pid[Any]:
    return await node.start(Member)


async def next_diff(probe: Probe, topic: str = TOPIC) -> dict[str, Any]:
    message = await probe.receive(
        match=lambda m: isinstance(m, Broadcast) and m.event == "presence_diff" and m.topic == topic
    )
    return message.payload  # type: ignore[no-any-return]


def refs(presences: dict[str, Any], key: str) -> list[str]:
    return [meta["phx_ref"] for meta in presences[key]["metas"]]


async def test_track_then_list_shows_the_meta_with_its_phx_ref(
    node: Node, presence: Presence
) -> None:
    pid = await member(node)
    ref = await presence.track(pid, TOPIC, "ada", {"online_at": "1700000000"})
    assert REF.fullmatch(ref)
    assert presence.list(TOPIC) == {"ada": {"metas": [{"online_at": "1700000000", "phx_ref": ref}]}}
    assert presence.get_by_key(TOPIC, "ada") == {
        "metas": [{"online_at": "1700000000", "phx_ref": ref}]
    }
    assert presence.get_by_key(TOPIC, "bob") is None
    assert presence.list("room:empty") == {}


async def test_keys_are_listed_as_strings(node: Node, presence: Presence) -> None:
    await presence.track(await member(node), TOPIC, 42, {})
    assert list(presence.list(TOPIC)) == ["42"]
    assert presence.get_by_key(TOPIC, 42) is not None


async def test_phx_refs_are_16_url_safe_characters_carrying_the_time_and_never_repeat() -> None:
    new_ref = make_ref_generator("node-a")
    before = time.time_ns()
    made = [new_ref() for _ in range(20_000)]
    assert all(REF.fullmatch(ref) for ref in made)
    assert len(set(made)) == len(made)
    stamp, _node_hash, _counter = struct.unpack(">QHH", base64.urlsafe_b64decode(made[0]))
    assert before <= stamp <= time.time_ns()


async def test_tracking_the_same_pid_topic_and_key_twice_raises_already_tracked(
    node: Node, presence: Presence, listener: Probe
) -> None:
    pid = await member(node)
    ref = await presence.track(pid, TOPIC, "ada", {"n": 1})
    await next_diff(listener)
    with pytest.raises(AlreadyTracked):
        await presence.track(pid, TOPIC, "ada", {"n": 2})
    assert refs(presence.list(TOPIC), "ada") == [ref]
    await listener.refute_receive(timeout=0.05)


async def test_update_sends_one_diff_with_the_key_in_joins_and_leaves(
    node: Node, presence: Presence, listener: Probe
) -> None:
    pid = await member(node)
    old = await presence.track(pid, TOPIC, "ada", {"status": "online"})
    await next_diff(listener)
    new = await presence.update(pid, TOPIC, "ada", {"status": "away"})
    assert new != old
    diff = await next_diff(listener)
    assert diff == {
        "joins": {"ada": {"metas": [{"status": "away", "phx_ref": new, "phx_ref_prev": old}]}},
        "leaves": {"ada": {"metas": [{"status": "online", "phx_ref": old}]}},
    }
    await listener.refute_receive(timeout=0.05)
    assert presence.list(TOPIC) == {
        "ada": {"metas": [{"status": "away", "phx_ref": new, "phx_ref_prev": old}]}
    }


async def test_update_may_compute_the_new_meta_from_the_old_one(
    node: Node, presence: Presence
) -> None:
    pid = await member(node)
    await presence.track(pid, TOPIC, "ada", {"typing": False, "tabs": 1})
    await presence.update(pid, TOPIC, "ada", lambda meta: {**meta, "typing": True})
    (meta,) = presence.list(TOPIC)["ada"]["metas"]
    assert meta["typing"] is True and meta["tabs"] == 1


async def test_updating_an_untracked_presence_raises_no_presence(
    node: Node, presence: Presence, listener: Probe
) -> None:
    pid = await member(node)
    with pytest.raises(NoPresence):
        await presence.update(pid, TOPIC, "ada", {"status": "away"})
    await listener.refute_receive(timeout=0.05)


async def test_meta_must_be_a_dict(node: Node, presence: Presence) -> None:
    with pytest.raises(Misuse):
        await presence.track(await member(node), TOPIC, "ada", ["not", "a", "map"])  # type: ignore[arg-type]


@pytest.mark.parametrize("how", ["crash", "normal", "kill"])
async def test_a_tracked_process_that_exits_leaves_with_a_diff(
    node: Node, presence: Presence, listener: Probe, how: str
) -> None:
    pid = await member(node)
    other = await member(node)
    ref = await presence.track(pid, TOPIC, "ada", {"device": "phone"})
    await presence.track(other, TOPIC, "bob", {})
    await next_diff(listener)
    await next_diff(listener)
    if how == "crash":
        pid.cast("boom")
    elif how == "normal":
        await node.stop(pid)
    else:
        node.exit(pid, "kill")
    diff = await next_diff(listener)
    assert diff == {
        "joins": {},
        "leaves": {"ada": {"metas": [{"device": "phone", "phx_ref": ref}]}},
    }
    assert list(presence.list(TOPIC)) == ["bob"]


async def test_a_key_with_several_metas_stays_while_one_of_its_processes_remains(
    node: Node, presence: Presence, listener: Probe
) -> None:
    phone, laptop = await member(node), await member(node)
    phone_ref = await presence.track(phone, TOPIC, "ada", {"device": "phone"})
    laptop_ref = await presence.track(laptop, TOPIC, "ada", {"device": "laptop"})
    assert refs(presence.list(TOPIC), "ada") == [phone_ref, laptop_ref]
    await next_diff(listener)
    await next_diff(listener)
    await node.stop(phone)
    diff = await next_diff(listener)
    assert diff["leaves"] == {"ada": {"metas": [{"device": "phone", "phx_ref": phone_ref}]}}
    assert refs(presence.list(TOPIC), "ada") == [laptop_ref]


async def test_untrack_removes_the_presence_with_a_leave_diff(
    node: Node, presence: Presence, listener: Probe
) -> None:
    pid = await member(node)
    ref = await presence.track(pid, TOPIC, "ada", {})
    await presence.track(pid, TOPIC, "ada-bot", {})
    await next_diff(listener)
    await next_diff(listener)
    await presence.untrack(pid, TOPIC, "ada")
    assert await next_diff(listener) == {
        "joins": {},
        "leaves": {"ada": {"metas": [{"phx_ref": ref}]}},
    }
    assert list(presence.list(TOPIC)) == ["ada-bot"]
    await presence.untrack(pid, TOPIC, "ada")  # already gone: no error, no diff
    await listener.refute_receive(timeout=0.05)
    # Tracking again after untrack is allowed.
    await presence.track(pid, TOPIC, "ada", {})
    assert sorted(presence.list(TOPIC)) == ["ada", "ada-bot"]


async def test_a_process_tracking_several_topics_leaves_all_of_them_when_it_exits(
    node: Node, presence: Presence
) -> None:
    watcher = await Probe.start(node)
    topics = ["room:1", "room:2", "room:3"]
    for topic in topics:
        presence.pubsub.subscribe(watcher.pid, topic)
    pid = await member(node)
    for topic in topics:
        await presence.track(pid, topic, "ada", {"topic": topic})
        await presence.track(pid, topic, "ada-alt", {"topic": topic})
    watcher.flush()
    pid.cast("boom")
    for topic in topics:
        diff = await next_diff(watcher, topic)
        assert diff["joins"] == {}
        assert sorted(diff["leaves"]) == ["ada", "ada-alt"]
        assert presence.list(topic) == {}
    assert presence.summary() == {"topics": 0, "presences": 0}


async def test_diffs_reach_a_subscriber_in_change_order(
    node: Node, presence: Presence, listener: Probe
) -> None:
    ada, bob = await member(node), await member(node)
    ada_ref = await presence.track(ada, TOPIC, "ada", {})
    bob_ref = await presence.track(bob, TOPIC, "bob", {})
    ada_new = await presence.update(ada, TOPIC, "ada", {"away": True})
    await presence.untrack(bob, TOPIC, "bob")
    await node.stop(ada)
    received = [await next_diff(listener) for _ in range(5)]
    assert [
        (
            {k: refs(d["joins"], k) for k in d["joins"]},
            {k: refs(d["leaves"], k) for k in d["leaves"]},
        )
        for d in received
    ] == [
        ({"ada": [ada_ref]}, {}),
        ({"bob": [bob_ref]}, {}),
        ({"ada": [ada_new]}, {"ada": [ada_ref]}),
        ({}, {"bob": [bob_ref]}),
        ({}, {"ada": [ada_new]}),
    ]


async def test_fetch_adds_data_to_lists_and_to_both_maps_of_diffs(node: Node) -> None:
    class UserPresence(Presence):
        def fetch(self, topic: str, presences: dict[str, Any]) -> dict[str, Any]:
            return {
                key: {**entry, "user": {"name": key.upper()}} for key, entry in presences.items()
            }

    presence, app = await start_app(node, UserPresence)
    try:
        probe = await Probe.start(node)
        presence.pubsub.subscribe(probe.pid, TOPIC)
        pid = await member(node)
        await presence.track(pid, TOPIC, "ada", {})
        assert presence.list(TOPIC)["ada"]["user"] == {"name": "ADA"}
        assert presence.get_by_key(TOPIC, "ada")["user"] == {"name": "ADA"}  # type: ignore[index]
        assert (await next_diff(probe))["joins"]["ada"]["user"] == {"name": "ADA"}
        await presence.update(pid, TOPIC, "ada", {"away": True})
        diff = await next_diff(probe)
        assert diff["joins"]["ada"]["user"] == diff["leaves"]["ada"]["user"] == {"name": "ADA"}
    finally:
        await app.stop()


async def test_a_restarted_tracker_keeps_the_presences_and_still_sees_exits(
    node: Node, presence: Presence, listener: Probe
) -> None:
    pid = await member(node)
    ref = await presence.track(pid, TOPIC, "ada", {})
    await next_diff(listener)
    tracker = node.whereis(presence.name)
    assert tracker is not None
    node.exit(tracker, "kill")
    for _ in range(100):
        restarted = node.whereis(presence.name)
        if restarted is not None and restarted != tracker:
            break
        await asyncio.sleep(0.01)
    assert refs(presence.list(TOPIC), "ada") == [ref]
    with pytest.raises(AlreadyTracked):
        await presence.track(pid, TOPIC, "ada", {})
    await node.stop(pid)
    assert (await next_diff(listener))["leaves"] == {"ada": {"metas": [{"phx_ref": ref}]}}


async def test_summary_counts_topics_and_presences(node: Node, presence: Presence) -> None:
    a, b = await member(node), await member(node)
    await presence.track(a, "room:1", "ada", {})
    await presence.track(b, "room:1", "ada", {})
    await presence.track(b, "room:2", "bob", {})
    assert presence.summary() == {"topics": 2, "presences": 3}
    tracker = node.whereis(presence.name)
    assert tracker is not None
    info = node.info(tracker)
    assert info is not None
    assert info.summary["topics"] == 2 and info.summary["monitored"] == 2


async def test_five_thousand_members_of_one_topic_track_well_under_a_second(
    node: Node, presence: Presence, listener: Probe
) -> None:
    pids = [await member(node) for _ in range(50)]
    started = time.perf_counter()
    for i in range(5_000):
        await presence.track(pids[i % 50], TOPIC, f"user{i}", {"n": i})
    elapsed = time.perf_counter() - started
    listed = presence.list(TOPIC)
    assert len(listed) == 5_000
    assert elapsed < 1.0, f"5,000 tracks took {elapsed:.2f}s"
    assert len(listener.flush()) == 5_000


# -- end to end: the demo socket over a real WebSocket ---------------------------------


@pytest.fixture
async def demo_url() -> AsyncIterator[str]:
    app = build_server(load_settings("test", environ={}))
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"ws://127.0.0.1:{port}/demo/socket/websocket?vsn=2.0.0"
    finally:
        await runner.cleanup()


def is_own_join(frame: Any, name: str) -> bool:
    """The joiner's own join diff: the JS client buffers it until presence_state."""
    return frame[3] == "presence_diff" and frame[4] == {
        "joins": {name: frame[4]["joins"].get(name)},
        "leaves": {},
    }


async def join(client: WSClient, name: str) -> tuple[dict[str, Any], bool]:
    """Join room:x and check the reply comes first. Returns the presence_state
    and whether the joiner's own join diff already arrived (at most once, before it)."""
    await client.send(["1", "1", "room:x", "phx_join", {"name": name}])
    assert await client.recv() == [
        "1",
        "1",
        "room:x",
        "phx_reply",
        {"status": "ok", "response": {}},
    ]
    frame = await client.recv()
    own_diff_seen = is_own_join(frame, name)
    if own_diff_seen:
        frame = await client.recv()
    assert frame[:4] == ["1", None, "room:x", "presence_state"]
    return frame[4], own_diff_seen


async def test_demo_room_pushes_presence_state_then_diffs_for_joins_and_leaves(
    demo_url: str,
) -> None:
    async with ws_client(demo_url) as ada:
        state, own_diff_seen = await join(ada, "ada")
        assert list(state) == ["ada"]
        (ada_meta,) = state["ada"]["metas"]
        assert REF.fullmatch(ada_meta["phx_ref"]) and "online_at" in ada_meta
        async with ws_client(demo_url) as bob:
            bob_state, _ = await join(bob, "bob")
            assert sorted(bob_state) == ["ada", "bob"]
            diff = await ada.recv()
            if not own_diff_seen and is_own_join(diff, "ada"):
                diff = await ada.recv()
            assert diff[:4] == [None, None, "room:x", "presence_diff"]
            assert diff[4]["leaves"] == {} and list(diff[4]["joins"]) == ["bob"]
            bob_meta = diff[4]["joins"]["bob"]["metas"][0]
            assert bob_state["bob"]["metas"] == [bob_meta]
        leave = await ada.recv()
        assert leave == [
            None,
            None,
            "room:x",
            "presence_diff",
            {"joins": {}, "leaves": {"bob": {"metas": [bob_meta]}}},
        ]


async def test_a_demo_join_without_a_name_does_no_presence_work(demo_url: str) -> None:
    async with ws_client(demo_url) as watcher, ws_client(demo_url) as ada:
        await watcher.send(["1", "1", "room:x", "phx_join", {}])
        assert (await watcher.recv())[3] == "phx_reply"
        await join(ada, "ada")
        # The nameless watcher is not tracked and gets no presence_state (its
        # first frame after the reply is ada's presence_diff), yet it hears
        # broadcasts as any member does.
        diff = await watcher.recv()
        assert diff[3] == "presence_diff" and list(diff[4]["joins"]) == ["ada"]
        await watcher.send(["1", "2", "room:x", "shout", {"hi": 1}])
        shout = await watcher.recv_until(lambda f: f[3] == "shout")
        assert shout[4] == {"hi": 1}
