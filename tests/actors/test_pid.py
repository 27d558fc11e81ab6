"""Process identity (OTP PID-1..5), pids, ``From`` and ``Ref``.

PID-6 (no shared memory) does not apply: Python processes on one node share
objects by reference, by design.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from typing import Any

import pytest

from bitnexus.actors import Actor, From, Node, NoReply, Pid, Ref, Reply
from bitnexus.actors.testing import Probe
from bitnexus.exceptions import Misuse, NoProcess


class Echo(Actor):
    async def handle_call(self, request: Any, from_: From) -> Any:
        return Reply(request)

    async def handle_cast(self, message: Any) -> None:
        return None


class Holder(Actor):
    """Keeps every ``from_`` without answering, so tests can answer by hand."""

    def __init__(self) -> None:
        self.froms: list[From] = []

    async def handle_call(self, request: Any, from_: From) -> Any:
        self.froms.append(from_)
        return NoReply()


class SelfCaller(Actor):
    async def handle_call(self, request: Any, from_: From) -> Any:
        try:
            await self.pid.call("again", timeout=2.0)
        except Misuse as exc:
            return Reply(("refused", str(exc)))
        return Reply("deadlock went unnoticed")


async def test_pids_print_like_erlang_pids_with_the_node_id_first() -> None:
    node = Node(node_id=7)
    pid = node.spawn(Echo)
    assert re.fullmatch(r"<7\.\d+\.0>", repr(pid))
    assert str(pid) == repr(pid)
    await node.shutdown()


async def test_every_spawn_gets_a_fresh_pid_that_is_never_reused(node: Node) -> None:
    first = [node.spawn(Echo) for _ in range(50)]
    for pid in first:
        node.exit(pid, "kill")
    second = [node.spawn(Echo) for _ in range(50)]
    assert len(set(first) | set(second)) == 100
    assert not any(pid.alive for pid in first)
    assert all(pid.alive for pid in second)


async def test_pids_compare_and_hash_by_node_and_serial() -> None:
    assert Pid(1, 5) == Pid(1, 5)
    assert hash(Pid(1, 5)) == hash(Pid(1, 5))
    assert Pid(1, 5) != Pid(2, 5)
    assert Pid(1, 5) != Pid(1, 6)
    assert Pid(1, 5) != (1, 5)
    assert sorted([Pid(2, 1), Pid(1, 9), Pid(1, 2)]) == [Pid(1, 2), Pid(1, 9), Pid(2, 1)]
    assert len({Pid(1, 5), Pid(1, 5), Pid(1, 6)}) == 2


async def test_a_pid_stops_being_alive_when_its_process_exits(node: Node) -> None:
    pid = await node.start(Echo)
    assert pid.alive
    await node.stop(pid)
    assert not pid.alive


async def test_sending_or_casting_to_a_dead_pid_is_silently_dropped(node: Node) -> None:
    pid = await node.start(Echo)
    await node.stop(pid)
    before = node.statistics()
    assert pid.send("hello") is None
    assert pid.cast("hello") is None
    assert node.statistics() == before
    assert len(node) == 0


async def test_cast_returns_none_whether_or_not_the_target_is_alive(node: Node) -> None:
    live = await node.start(Echo)
    assert live.cast("x") is None
    assert await live.call("still here") == "still here"


async def test_resolving_a_name_nobody_holds_raises_no_process(node: Node) -> None:
    with pytest.raises(NoProcess) as raised:
        node.resolve("nobody")
    assert raised.value.target == "nobody"


async def test_calling_a_dead_pid_raises_no_process_at_once(node: Node) -> None:
    pid = await node.start(Echo)
    node.exit(pid, "kill")
    started = time.monotonic()
    with pytest.raises(NoProcess) as raised:
        await pid.call("anyone?", timeout=5.0)
    assert time.monotonic() - started < 1.0
    assert raised.value.target == pid


async def test_calling_yourself_is_refused_instead_of_deadlocking(node: Node) -> None:
    pid = await node.start(SelfCaller)
    started = time.monotonic()
    outcome, message = await pid.call("go")
    assert outcome == "refused"
    assert "calling_self" in message
    assert time.monotonic() - started < 1.0


async def test_a_second_reply_to_the_same_caller_is_dropped(node: Node) -> None:
    holder = Holder()
    pid = node.spawn(holder)
    call = asyncio.ensure_future(pid.call("q"))
    await asyncio.sleep(0.01)
    (from_,) = holder.froms
    assert not from_.answered
    from_.reply("first")
    from_.reply("second")
    assert from_.answered
    assert await call == "first"


async def test_a_reply_from_another_thread_reaches_the_caller(node: Node) -> None:
    holder = Holder()
    pid = node.spawn(holder)
    call = asyncio.ensure_future(pid.call("q"))
    await asyncio.sleep(0.01)
    (from_,) = holder.froms
    thread = threading.Thread(target=from_.reply_threadsafe, args=("from a thread",))
    thread.start()
    thread.join()
    assert await asyncio.wait_for(call, 1.0) == "from a thread"


async def test_monitor_refs_are_unique_and_compare_by_value(node: Node, probe: Probe) -> None:
    pid = await node.start(Echo)
    refs = [probe.monitor(pid) for _ in range(3)]
    assert len(set(refs)) == 3
    assert Ref(refs[0].serial) == refs[0]
    assert refs[0] != refs[1]
    assert repr(refs[0]).startswith("#Ref<")
