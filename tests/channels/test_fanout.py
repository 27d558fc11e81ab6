"""Channel fan-out (``ChannelFastlane.deliver_all``): one encode per serializer,
intercepted events go to the channel process, the sender can be skipped, and
one broken socket does not stop the others."""

from __future__ import annotations

import logging

from bitnexus.actors import Node
from bitnexus.actors.testing import Probe
from bitnexus.channels.protocol import Broadcast, V1JSONSerializer, V2JSONSerializer
from bitnexus.channels.server import ChannelFastlane
from bitnexus.channels.testing_transport import TestTransport


class ExplodingTransport(TestTransport):
    def write_prepared(self, prepared: object) -> None:
        raise OSError("socket is gone")


async def lanes_for(
    node: Node, transports: list[TestTransport], intercepts: frozenset[str] = frozenset()
) -> tuple[list[ChannelFastlane], list[Probe]]:
    probes = [await Probe.start(node) for _ in transports]
    pairs = zip(transports, probes, strict=True)
    lanes = [ChannelFastlane(t, intercepts, probe.pid) for t, probe in pairs]
    return lanes, probes


async def test_every_socket_gets_the_frame_of_its_own_serializer_encoded_once(node):
    v2, v2_too, v1 = TestTransport(), TestTransport(), TestTransport(V1JSONSerializer)
    lanes, _ = await lanes_for(node, [v2, v2_too, v1])
    cache: dict[object, object] = {}
    bcast = Broadcast("room:1", "shout", {"n": 1})
    assert ChannelFastlane.deliver_all(bcast, lanes, cache, None) == 3
    assert v2.raw == v2_too.raw == [V2JSONSerializer.fastlane_encode(bcast)]
    assert v1.raw == [V1JSONSerializer.fastlane_encode(bcast)]
    assert len(cache) == 2  # one prepared frame per serializer, shared


async def test_intercepted_events_go_to_the_channel_process_not_the_socket(node):
    transports = [TestTransport(), TestTransport()]
    lanes, probes = await lanes_for(node, transports, frozenset({"secret"}))
    bcast = Broadcast("room:1", "secret", {"n": 2})
    assert ChannelFastlane.deliver_all(bcast, lanes, {}, None) == 2
    assert all(t.raw == [] for t in transports)
    for probe in probes:
        assert await probe.receive() == bcast


async def test_the_skipped_lane_gets_nothing(node):
    sender, other = TestTransport(), TestTransport()
    lanes, _ = await lanes_for(node, [sender, other])
    bcast = Broadcast("room:1", "shout", {})
    assert ChannelFastlane.deliver_all(bcast, lanes, {}, lanes[0]) == 1
    assert sender.frames == [] and len(other.frames) == 1


async def test_a_broken_socket_is_logged_and_the_rest_still_get_the_frame(node, caplog):
    first, broken, last = TestTransport(), ExplodingTransport(), TestTransport()
    lanes, probes = await lanes_for(node, [first, broken, last])
    with caplog.at_level(logging.ERROR, logger="bitnexus.channels"):
        delivered = ChannelFastlane.deliver_all(Broadcast("room:1", "e", {}), lanes, {}, None)
    assert delivered == 2
    assert len(first.frames) == len(last.frames) == 1
    assert any(str(probes[1].pid) in r.getMessage() for r in caplog.records)


async def test_a_single_lane_delivers_the_same_way(node):
    (transport,) = transports = [TestTransport()]
    (lane,), _ = await lanes_for(node, transports)
    lane.deliver(Broadcast("room:1", "one", {"k": "v"}), {})
    assert [(f.event, f.payload) for f in transport.frames] == [("one", {"k": "v"})]
