"""PubSub: subscriptions, local delivery, fastlanes (encode once) and the
adapter boundary (only broadcasts to other nodes go through it)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bitnexus.actors import Actor, Node, Pid
from bitnexus.actors.testing import Probe
from bitnexus.exceptions import Misuse
from bitnexus.pubsub import Adapter, LocalAdapter, PubSub, PubSubServer


class RecordingAdapter(Adapter):
    """A real adapter for a node with no peers: it remembers what it published."""

    name = "recording"

    def __init__(self) -> None:
        self.published: list[tuple[str, Any, Pid[Any] | None]] = []
        self.events: list[str] = []

    async def start(self, pubsub: PubSub) -> None:
        self.events.append("start")

    async def stop(self) -> None:
        self.events.append("stop")

    def publish(self, topic: str, message: Any, from_pid: Pid[Any] | None) -> None:
        self.published.append((topic, message, from_pid))


class CountingFastlane:
    """Encodes a broadcast once per cache, the way channel fastlanes do."""

    encodes = 0

    def __init__(self) -> None:
        self.frames: list[Any] = []

    def deliver(self, message: Any, cache: dict[Any, Any]) -> None:
        frame = cache.get("json")
        if frame is None:
            type(self).encodes += 1
            frame = cache["json"] = repr(message).encode()
        self.frames.append(frame)


class BatchFastlane(CountingFastlane):
    """A fastlane class with ``deliver_all``: PubSub hands it every lane at once."""

    batches: list[int] = []

    @staticmethod
    def deliver_all(message: Any, lanes: Any, cache: dict[Any, Any], skip: Any) -> int:
        BatchFastlane.batches.append(len(lanes))
        delivered = 0
        for lane in lanes:
            if lane is not skip:
                lane.deliver(message, cache)
                delivered += 1
        return delivered


class Idle(Actor):
    """A subscriber that does nothing itself (its fastlane does the work)."""


class BrokenFastlane:
    def deliver(self, message: Any, cache: dict[Any, Any]) -> None:
        raise RuntimeError("this socket is gone")


@pytest.fixture
def pubsub(node: Node) -> PubSub:
    return PubSub(node)


async def probes(node: Node, n: int) -> list[Probe]:
    return [await Probe.start(node) for _ in range(n)]


async def test_a_subscriber_receives_broadcasts_on_its_topic_only(node, pubsub):
    (probe,) = await probes(node, 1)
    pubsub.subscribe(probe.pid, "room:1")
    assert pubsub.broadcast("room:1", "hello") == 1
    assert pubsub.broadcast("room:2", "elsewhere") == 0
    assert await probe.receive() == "hello"
    await probe.refute_receive()


async def test_unsubscribed_processes_receive_nothing_more(node, pubsub):
    (probe,) = await probes(node, 1)
    pubsub.subscribe(probe.pid, "room:1")
    pubsub.unsubscribe(probe.pid, "room:1")
    pubsub.unsubscribe(probe.pid, "room:1")  # absent: no error
    assert pubsub.broadcast("room:1", "hello") == 0
    assert pubsub.subscriber_count("room:1") == 0
    await probe.refute_receive()


async def test_a_broadcast_reaches_every_subscriber(node, pubsub):
    subscribers = await probes(node, 50)
    for probe in subscribers:
        pubsub.subscribe(probe.pid, "room:1")
    assert pubsub.subscriber_count("room:1") == 50
    assert set(pubsub.subscribers("room:1")) == {p.pid for p in subscribers}
    assert pubsub.broadcast("room:1", {"n": 1}) == 50
    for probe in subscribers:
        assert await probe.receive() == {"n": 1}


async def test_subscribing_twice_keeps_one_subscription(node, pubsub):
    (probe,) = await probes(node, 1)
    pubsub.subscribe(probe.pid, "room:1")
    pubsub.subscribe(probe.pid, "room:1")
    assert pubsub.broadcast("room:1", "once") == 1
    assert await probe.receive() == "once"
    await probe.refute_receive()


async def test_broadcast_from_skips_the_sender(node, pubsub):
    sender, other = await probes(node, 2)
    pubsub.subscribe(sender.pid, "room:1")
    pubsub.subscribe(other.pid, "room:1")
    assert pubsub.broadcast_from(sender.pid, "room:1", "hi") == 1
    assert await other.receive() == "hi"
    await sender.refute_receive()


async def test_local_broadcast_delivers_here_without_the_adapter(node):
    adapter = RecordingAdapter()
    pubsub = PubSub(node, adapter=adapter)
    sender, other = await probes(node, 2)
    pubsub.subscribe(sender.pid, "room:1")
    pubsub.subscribe(other.pid, "room:1")
    assert pubsub.local_broadcast("room:1", "local") == 2
    assert pubsub.local_broadcast("room:1", "skip", from_pid=sender.pid) == 1
    assert await other.receive() == "local"
    assert await other.receive() == "skip"
    assert await sender.receive() == "local"
    await sender.refute_receive()
    assert adapter.published == []


async def test_broadcast_and_broadcast_from_are_published_through_the_adapter(node):
    adapter = RecordingAdapter()
    pubsub = PubSub(node, adapter=adapter)
    (sender,) = await probes(node, 1)
    pubsub.broadcast("room:1", "to all")
    pubsub.broadcast_from(sender.pid, "room:2", "from one")
    assert adapter.published == [("room:1", "to all", None), ("room:2", "from one", sender.pid)]


async def test_the_default_adapter_is_local(pubsub):
    assert isinstance(pubsub.adapter, LocalAdapter)
    assert pubsub.broadcast("nobody", "x") == 0


async def test_subscriptions_vanish_when_the_subscriber_exits(node, pubsub):
    (probe,) = await probes(node, 1)
    pubsub.subscribe(probe.pid, "room:1")
    pubsub.subscribe(probe.pid, "room:2")
    await node.stop(probe.pid)
    assert pubsub.subscriber_count("room:1") == pubsub.subscriber_count("room:2") == 0
    assert pubsub.broadcast("room:1", "gone") == 0


async def test_subscribing_a_dead_process_does_nothing(node, pubsub):
    (probe,) = await probes(node, 1)
    await node.stop(probe.pid)
    pubsub.subscribe(probe.pid, "room:1")
    assert pubsub.subscriber_count("room:1") == 0


async def test_topics_must_be_strings(node, pubsub):
    (probe,) = await probes(node, 1)
    with pytest.raises(Misuse, match="topics are strings"):
        pubsub.subscribe(probe.pid, 7)  # type: ignore[arg-type]


async def test_a_fastlane_subscriber_gets_deliver_instead_of_a_message(node, pubsub):
    (probe,) = await probes(node, 1)
    lane = CountingFastlane()
    pubsub.subscribe(probe.pid, "room:1", fastlane=lane)
    assert pubsub.broadcast("room:1", "fast") == 1
    assert lane.frames == [b"'fast'"]
    await probe.refute_receive()


async def test_a_broadcast_is_encoded_once_for_a_thousand_fastlane_subscribers(node, pubsub):
    CountingFastlane.encodes = 0
    lanes = []
    for _ in range(1000):
        lane = CountingFastlane()
        lanes.append(lane)
        pubsub.subscribe(node.spawn(Idle), "room:1", fastlane=lane)
    assert pubsub.broadcast("room:1", {"n": 1}) == 1000
    assert CountingFastlane.encodes == 1
    assert all(lane.frames == [lanes[0].frames[0]] for lane in lanes)
    pubsub.broadcast("room:1", {"n": 2})
    assert CountingFastlane.encodes == 2


async def test_lanes_of_one_class_with_deliver_all_get_one_call_per_broadcast(node, pubsub):
    BatchFastlane.batches = []
    lanes = [BatchFastlane() for _ in range(3)]
    pids = [node.spawn(Idle) for _ in lanes]
    for pid, lane in zip(pids, lanes, strict=True):
        pubsub.subscribe(pid, "room:1", fastlane=lane)
    assert pubsub.broadcast("room:1", "all") == 3
    assert pubsub.broadcast_from(pids[0], "room:1", "others") == 2
    assert BatchFastlane.batches == [3, 3]
    assert [lane.frames for lane in lanes] == [
        [b"'all'"],
        [b"'all'", b"'others'"],
        [b"'all'", b"'others'"],
    ]


async def test_mixed_subscribers_are_delivered_one_by_one(node, pubsub):
    BatchFastlane.batches = []
    (probe,) = await probes(node, 1)
    lane = BatchFastlane()
    pubsub.subscribe(probe.pid, "room:1")
    pubsub.subscribe(node.spawn(Idle), "room:1", fastlane=lane)
    assert pubsub.broadcast("room:1", "mixed") == 2
    assert BatchFastlane.batches == []  # no single class to batch for
    assert lane.frames == [b"'mixed'"]
    assert await probe.receive() == "mixed"


async def test_a_failing_fastlane_does_not_stop_delivery_to_the_others(node, pubsub, caplog):
    first, broken, last = await probes(node, 3)
    lane = CountingFastlane()
    pubsub.subscribe(first.pid, "room:1")
    pubsub.subscribe(broken.pid, "room:1", fastlane=BrokenFastlane())
    pubsub.subscribe(last.pid, "room:1", fastlane=lane)
    with caplog.at_level(logging.ERROR, logger="bitnexus.pubsub"):
        assert pubsub.broadcast("room:1", "hi") == 2
    assert await first.receive() == "hi"
    assert len(lane.frames) == 1
    logged = [r.getMessage() for r in caplog.records]
    assert any("delivery" in m and str(broken.pid) in m for m in logged)


async def test_pubsubs_with_different_names_do_not_share_topics(node):
    a, b = PubSub(node, name="a"), PubSub(node, name="b")
    (probe,) = await probes(node, 1)
    a.subscribe(probe.pid, "room:1")
    assert b.broadcast("room:1", "other") == 0
    assert a.broadcast("room:1", "mine") == 1
    assert await probe.receive() == "mine"


async def test_pubsub_server_starts_and_stops_the_adapter(node):
    adapter = RecordingAdapter()
    pubsub = PubSub(node, adapter=adapter)
    pid = await node.start(PubSubServer, pubsub)
    assert adapter.events == ["start"]
    assert node.info(pid).summary == {"adapter": "recording", "broadcasts": 0, "deliveries": 0}
    await node.stop(pid, "shutdown")
    assert adapter.events == ["start", "stop"]
