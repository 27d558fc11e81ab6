"""The Probe test process: selective receive, refutes, trapping and history."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bitnexus.actors import Actor, Down, Exit, Node
from bitnexus.actors.testing import Probe


class Idle(Actor):
    pass


async def test_receive_returns_messages_in_arrival_order(node: Node) -> None:
    probe = await Probe.start(node)
    for i in range(3):
        probe.pid.send(i)
    assert [await probe.receive() for _ in range(3)] == [0, 1, 2]


async def test_receive_waits_for_a_message_that_arrives_later(node: Node) -> None:
    probe = await Probe.start(node)
    asyncio.get_running_loop().call_later(0.02, probe.pid.send, "late")
    assert await probe.receive(timeout=1.0) == "late"


async def test_a_selective_receive_leaves_other_messages_queued_in_order(node: Node) -> None:
    probe = await Probe.start(node)
    for message in ["a", ("wanted", 1), "b", ("wanted", 2), "c"]:
        probe.pid.send(message)
    assert await probe.receive(match=lambda m: m[0] == "wanted") == ("wanted", 1)
    assert probe.queued == ["a", "b", ("wanted", 2), "c"]
    assert await probe.receive() == "a"


async def test_a_class_as_match_selects_by_type(node: Node) -> None:
    probe = await Probe.start(node)
    pid = node.spawn(Idle)
    probe.pid.send("noise")
    ref = probe.monitor(pid)
    node.exit(pid, "kill")
    assert await probe.receive(match=Down) == Down(ref, pid, "killed")
    assert probe.queued == ["noise"]


async def test_receive_fails_after_the_timeout_listing_what_is_queued(node: Node) -> None:
    probe = await Probe.start(node)
    probe.pid.send("unrelated")
    started = time.monotonic()
    with pytest.raises(AssertionError) as raised:
        await probe.receive(timeout=0.05, match=lambda m: m == "never")
    assert time.monotonic() - started >= 0.045
    assert "'unrelated'" in str(raised.value)
    assert probe.queued == ["unrelated"]


async def test_refute_receive_passes_when_nothing_matching_arrives(node: Node) -> None:
    probe = await Probe.start(node)
    probe.pid.send("allowed")
    await probe.refute_receive(timeout=0.02, match=lambda m: m == "forbidden")
    assert probe.queued == ["allowed"]


@pytest.mark.parametrize("when", ["queued", "arriving"])
async def test_refute_receive_fails_on_a_matching_message(node: Node, when: str) -> None:
    probe = await Probe.start(node)
    if when == "queued":
        probe.pid.send("forbidden")
        await asyncio.sleep(0)
    else:
        asyncio.get_running_loop().call_later(0.01, probe.pid.send, "forbidden")
    with pytest.raises(AssertionError, match="forbidden"):
        await probe.refute_receive(timeout=0.2)


async def test_received_keeps_the_whole_history_and_flush_empties_the_queue(
    node: Node,
) -> None:
    probe = Probe(node)
    for i in range(4):
        probe.pid.send(i)
    assert await probe.receive() == 0
    assert probe.flush() == [1, 2, 3]
    assert probe.queued == []
    assert probe.received == [0, 1, 2, 3]


async def test_a_trapping_probe_survives_a_linked_crash_and_sees_the_exit(node: Node) -> None:
    probe = await Probe.start(node, trap_exit=True)
    pid = node.spawn(Idle)
    probe.link(pid)
    error = RuntimeError("boom")
    node.exit(pid, error)
    assert await probe.receive() == Exit(pid, error)
    assert probe.alive


async def test_a_non_trapping_probe_dies_with_a_linked_process(node: Node) -> None:
    probe = Probe(node)
    pid = node.spawn(Idle)
    probe.link(pid)
    node.exit(pid, RuntimeError("boom"))
    assert not probe.alive


async def test_a_probe_is_a_named_process_of_kind_probe(node: Node) -> None:
    probe = await Probe.start(node, name="test-probe")
    probe.pid.send("x")
    await asyncio.sleep(0)
    info: Any = node.info(probe.pid)
    assert node.whereis("test-probe") == probe.pid
    assert info.kind == "probe"
    assert info.summary == {"queued": 1}


async def test_a_predicate_that_raises_on_a_message_does_not_match_it(node: Node) -> None:
    probe = await Probe.start(node)
    probe.pid.send(42)
    probe.pid.send(("tagged", 1))
    assert await probe.receive(match=lambda m: m[0] == "tagged") == ("tagged", 1)
    assert probe.queued == [42]
