"""The process engine: mailbox order (MSG-1/3/5, GS-5), crash semantics, call
semantics (GS-2, TMO-1..4) and what an idle process costs."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bitnexus.actors import Actor, Down, From, Node, NoReply, Pid, Reply, Stop
from bitnexus.actors.testing import Probe
from bitnexus.exceptions import CallTimeout, ProcessExited


class Boom(Exception):
    pass


# --- mailbox order ------------------------------------------------------------------------


class Recorder(Actor):
    """Records ``n`` of every ``(n, slow)`` message; slow ones await first, so
    a runtime that overlapped handlers would record them out of order."""

    def __init__(self) -> None:
        self.log: list[int] = []

    async def _record(self, item: tuple[int, bool]) -> None:
        n, slow = item
        if slow:
            await asyncio.sleep(0)
            await asyncio.sleep(0)
        self.log.append(n)

    async def handle_cast(self, item: Any) -> None:
        await self._record(item)

    async def handle_info(self, item: Any) -> None:
        await self._record(item)

    async def handle_call(self, item: Any, from_: From) -> Any:
        if item == "log":
            return Reply(list(self.log))
        await self._record(item)
        return Reply(item[0])


class Sender(Actor):
    """On an info message carrying a list of operations, performs them in
    order against ``target``, then tells ``report`` it is done."""

    def __init__(self, target: Pid[Any], report: Pid[Any]) -> None:
        self.target = target
        self.report = report

    async def handle_info(self, ops: list[tuple[str, bool, bool]]) -> None:
        for n, (how, slow, pause) in enumerate(ops):
            if how == "cast":
                self.target.cast((n, slow))
            elif how == "send":
                self.target.send((n, slow))
            else:
                assert await self.target.call((n, slow)) == n
            if pause:
                await asyncio.sleep(0)
        self.report.send("done")


OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["cast", "send", "call"]), st.booleans(), st.booleans()),
    max_size=25,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPERATIONS)
def test_messages_from_one_process_to_another_arrive_in_send_order(
    ops: list[tuple[str, bool, bool]],
) -> None:
    async def scenario() -> list[int]:
        node = Node()
        probe = await Probe.start(node)
        receiver = node.spawn(Recorder)
        sender = node.spawn(Sender, receiver, probe.pid)
        sender.send(ops)
        assert await probe.receive(timeout=5.0) == "done"
        log = await receiver.call("log")
        await node.shutdown(timeout=1.0)
        return log

    assert asyncio.run(scenario()) == list(range(len(ops)))


async def test_calls_and_casts_from_one_client_are_handled_in_send_order(node: Node) -> None:
    pid = node.spawn(Recorder)
    pid.cast((0, True))
    pid.send((1, False))
    call = asyncio.ensure_future(pid.call((2, True)))
    await asyncio.sleep(0)
    pid.cast((3, False))
    pid.send((4, True))
    assert await call == 2
    assert await pid.call("log") == [0, 1, 2, 3, 4]


class Gated(Actor):
    """Blocks on ``gate`` when told "block"; counts everything else."""

    def __init__(self, gate: asyncio.Event) -> None:
        self.gate = gate
        self.seen: list[Any] = []

    async def handle_info(self, message: Any) -> None:
        if message == "block":
            await self.gate.wait()
        else:
            self.seen.append(message)

    async def handle_cast(self, message: Any) -> None:
        if message == "crash":
            raise Boom("crash")
        self.seen.append(message)

    async def handle_call(self, request: Any, from_: From) -> Any:
        return Reply(list(self.seen))


async def test_sending_never_waits_even_when_the_receiver_is_busy(node: Node) -> None:
    gate = asyncio.Event()
    pid = await node.start(Gated, gate)
    pid.send("block")
    await asyncio.sleep(0.01)
    for i in range(10_000):
        pid.send(i)
    info = node.info(pid)
    assert info is not None and info.mailbox_len == 10_000
    gate.set()
    assert await pid.call("seen") == list(range(10_000))


async def test_a_process_handles_one_message_at_a_time_even_when_handlers_await(
    node: Node,
) -> None:
    class Overlap(Actor):
        def __init__(self) -> None:
            self.active = 0
            self.most = 0

        async def handle_info(self, message: Any) -> None:
            self.active += 1
            self.most = max(self.most, self.active)
            await asyncio.sleep(0.001 if message % 2 else 0)
            self.active -= 1

        async def handle_call(self, request: Any, from_: From) -> Any:
            return Reply(self.most)

    pid = node.spawn(Overlap)
    for i in range(20):
        pid.send(i)
    assert await pid.call("most") == 1


# --- crashes ------------------------------------------------------------------------------


class Crashy(Actor):
    def __init__(self, report: Pid[Any], *, awaits: bool = False) -> None:
        self.report = report
        self.awaits = awaits
        self.waiting: list[From] = []

    async def handle_cast(self, message: Any) -> None:
        if self.awaits:
            await asyncio.sleep(0)
        raise message

    async def handle_call(self, request: Any, from_: From) -> Any:
        self.waiting.append(from_)
        return NoReply()

    async def terminate(self, reason: Any) -> None:
        self.report.send(("terminate", reason))


@pytest.mark.parametrize("awaits", [False, True], ids=["sync", "awaiting"])
async def test_an_exception_in_a_handler_ends_the_process_with_that_exception(
    node: Node, probe: Probe, awaits: bool
) -> None:
    pid = await node.start(Crashy, probe.pid, awaits=awaits)
    ref = probe.monitor(pid)
    error = Boom("bad input")
    pid.cast(error)
    terminate = await probe.receive()
    assert terminate[0] == "terminate" and terminate[1] is error
    down = await probe.receive()
    assert down.ref == ref and down.reason is error
    assert not pid.alive


async def test_callers_waiting_on_a_crashed_process_learn_the_reason_at_once(
    node: Node, probe: Probe
) -> None:
    pid = await node.start(Crashy, probe.pid)
    pending = [asyncio.ensure_future(pid.call(i, timeout=5.0)) for i in range(3)]
    await asyncio.sleep(0.01)
    error = Boom("late")
    started = time.monotonic()
    pid.cast(error)
    for call in pending:
        with pytest.raises(ProcessExited) as raised:
            await call
        assert raised.value.reason is error
    assert time.monotonic() - started < 1.0


async def test_calls_queued_behind_a_crash_fail_at_once_with_the_reason(node: Node) -> None:
    gate = asyncio.Event()
    pid = await node.start(Gated, gate)
    pid.send("block")
    await asyncio.sleep(0.01)
    pid.cast("crash")
    queued = [asyncio.ensure_future(pid.call(i, timeout=5.0)) for i in range(3)]
    await asyncio.sleep(0)
    started = time.monotonic()
    gate.set()
    for call in queued:
        with pytest.raises(ProcessExited) as raised:
            await call
        assert isinstance(raised.value.reason, Boom)
    assert time.monotonic() - started < 1.0


async def test_a_terminate_that_raises_still_exits_with_the_original_reason(
    node: Node, probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    class BadTerminate(Actor):
        async def handle_cast(self, message: Any) -> Any:
            return Stop(message)

        async def terminate(self, reason: Any) -> None:
            raise RuntimeError("cleanup failed")

    pid = await node.start(BadTerminate)
    ref = probe.monitor(pid)
    pid.cast(("shutdown", "bye"))
    assert await probe.receive() == Down(ref, pid, ("shutdown", "bye"))
    assert any("terminate raised" in r.getMessage() for r in caplog.records)


async def test_an_exit_waits_for_a_terminate_that_awaits(node: Node, probe: Probe) -> None:
    class SlowTerminate(Actor):
        async def handle_cast(self, message: Any) -> Any:
            return Stop("normal")

        async def terminate(self, reason: Any) -> None:
            await asyncio.sleep(0.02)
            probe.pid.send("terminated")

    pid = await node.start(SlowTerminate)
    probe.monitor(pid)
    pid.cast("stop")
    assert await probe.receive() == "terminated"
    assert isinstance(await probe.receive(), Down)


async def test_a_crash_is_logged_and_counted_but_normal_exits_are_not(
    node: Node, probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    class Stopper(Actor):
        async def handle_cast(self, message: Any) -> Any:
            if isinstance(message, Exception):
                raise message
            return Stop(message)

    quiet = [await node.start(Stopper) for _ in range(3)]
    loud = await node.start(Stopper)
    for pid in [*quiet, loud]:
        probe.monitor(pid)
    with caplog.at_level(logging.ERROR, logger="bitnexus.actors"):
        for pid, reason in zip(quiet, ["normal", "shutdown", ("shutdown", 1)], strict=True):
            pid.cast(reason)
        for _ in quiet:
            await probe.receive(match=Down)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        loud.cast(Boom("crash"))
        await probe.receive(match=Down)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "Boom" in errors[0].getMessage()
    assert node.statistics()["crashed_total"] == 1


async def test_a_kill_while_a_handler_awaits_cancels_it_and_exits_at_once(
    node: Node, probe: Probe
) -> None:
    class Stuck(Actor):
        async def handle_info(self, message: Any) -> None:
            try:
                await asyncio.Event().wait()
            finally:
                probe.pid.send("unwound")

    pid = await node.start(Stuck)
    ref = probe.monitor(pid)
    pid.send("hang")
    await asyncio.sleep(0.01)
    node.exit(pid, "kill")
    assert not pid.alive
    assert await probe.receive(match=Down) == Down(ref, pid, "killed")
    assert await probe.receive() == "unwound"


async def test_an_exception_caught_inside_a_handler_does_not_end_the_process(
    node: Node,
) -> None:
    class Careful(Actor):
        async def handle_call(self, request: Any, from_: From) -> Any:
            try:
                raise Boom("handled")
            except Boom as exc:
                return Reply(str(exc))

    pid = await node.start(Careful)
    assert await pid.call("x") == "handled"
    assert pid.alive


# --- calls --------------------------------------------------------------------------------


class Server(Actor):
    """``("sleep", s, value)`` replies ``value`` after ``s`` seconds;
    ``("wait", event)`` blocks on the event; anything else echoes."""

    def __init__(self) -> None:
        self.handled: list[Any] = []

    async def handle_call(self, request: Any, from_: From) -> Any:
        match request:
            case ("sleep", seconds, value):
                await asyncio.sleep(seconds)
                self.handled.append(value)
                return Reply(value)
            case ("wait", event):
                await event.wait()
                return Reply("released")
            case ("raise", error):
                await asyncio.sleep(0.01)
                raise error
            case "handled":
                return Reply(list(self.handled))
        return Reply(request)


async def test_a_call_without_a_reply_in_time_raises_call_timeout_and_the_caller_goes_on(
    node: Node,
) -> None:
    pid = await node.start(Server)
    request = ("sleep", 0.5, "slow")
    started = time.monotonic()
    with pytest.raises(CallTimeout) as raised:
        await pid.call(request, timeout=0.05)
    assert 0.04 <= time.monotonic() - started < 1.0
    assert raised.value.target == pid
    assert raised.value.request == request
    assert raised.value.timeout == 0.05
    assert pid.alive


async def test_a_timed_out_request_is_still_handled_and_its_late_reply_is_discarded(
    node: Node,
) -> None:
    pid = await node.start(Server)
    with pytest.raises(CallTimeout):
        await pid.call(("sleep", 0.05, "late"), timeout=0.01)
    assert await pid.call("next", timeout=1.0) == "next"
    assert await pid.call("handled") == ["late"]


async def test_a_callee_dying_mid_call_fails_the_caller_without_waiting_for_the_timeout(
    node: Node,
) -> None:
    pid = await node.start(Server)
    call = asyncio.ensure_future(pid.call(("wait", asyncio.Event()), timeout=5.0))
    await asyncio.sleep(0.01)
    started = time.monotonic()
    node.exit(pid, ("shutdown", "maintenance"))
    with pytest.raises(ProcessExited) as raised:
        await call
    assert raised.value.pid == pid
    assert raised.value.reason == ("shutdown", "maintenance")
    assert time.monotonic() - started < 1.0


async def test_a_callee_crashing_mid_call_gives_the_caller_the_exception(node: Node) -> None:
    pid = await node.start(Server)
    error = Boom("midway")
    with pytest.raises(ProcessExited) as raised:
        await pid.call(("raise", error), timeout=5.0)
    assert raised.value.reason is error


async def test_a_call_without_timeout_waits_for_the_reply_or_the_death(node: Node) -> None:
    pid = await node.start(Server)
    assert await pid.call(("sleep", 0.02, "eventually"), timeout=None) == "eventually"
    call = asyncio.ensure_future(pid.call(("wait", asyncio.Event()), timeout=None))
    await asyncio.sleep(0.01)
    node.exit(pid, "kill")
    with pytest.raises(ProcessExited) as raised:
        await call
    assert raised.value.reason == "killed"


async def test_a_call_queued_to_a_process_that_is_killed_fails_with_killed(node: Node) -> None:
    pid = await node.start(Server)
    first = asyncio.ensure_future(pid.call(("wait", asyncio.Event())))
    second = asyncio.ensure_future(pid.call("queued"))
    await asyncio.sleep(0.01)
    node.exit(pid, "kill")
    for call in (first, second):
        with pytest.raises(ProcessExited) as raised:
            await call
        assert raised.value.reason == "killed"


async def test_a_reply_may_come_later_from_another_process(node: Node) -> None:
    class Replier(Actor):
        async def handle_cast(self, message: tuple[From, Any]) -> None:
            from_, value = message
            await asyncio.sleep(0.01)
            from_.reply(value)

    class Delegator(Actor):
        def __init__(self, helper: Pid[Any]) -> None:
            self.helper = helper

        async def handle_call(self, request: Any, from_: From) -> Any:
            if request == "ping":
                return Reply("pong")
            self.helper.cast((from_, f"answered {request}"))
            return NoReply()

    pid = await node.start(Delegator, await node.start(Replier))
    delegated = asyncio.ensure_future(pid.call("q1"))
    assert await pid.call("ping") == "pong"  # not blocked meanwhile
    assert await delegated == "answered q1"


async def test_concurrent_callers_each_get_their_own_reply(node: Node) -> None:
    pid = await node.start(Server)
    requests = [("sleep", 0.001 * (i % 3), i) for i in range(30)] + list(range(30, 60))
    replies = await asyncio.gather(*(pid.call(r) for r in requests))
    assert replies == list(range(60))


# --- cost of an idle process ---------------------------------------------------------------


@pytest.mark.parametrize("request_", [("sleep", 0, "awaited"), "sync"], ids=["awaiting", "sync"])
async def test_an_idle_process_holds_no_task_and_no_mailbox(node: Node, request_: Any) -> None:
    pid = await node.start(Server)
    for _ in range(3):
        await pid.call(request_)
    await asyncio.sleep(0)
    proc = pid._proc
    assert proc is not None
    assert proc._task is None
    assert proc.mailbox is None
    assert node.info(pid).status == "waiting"  # type: ignore[union-attr]


async def test_a_thousand_idle_processes_own_no_asyncio_tasks(node: Node) -> None:
    before = len(asyncio.all_tasks())
    pids = [node.spawn(Recorder) for _ in range(1000)]
    for i, pid in enumerate(pids):
        pid.send((i, i % 2 == 0))
    for i, pid in enumerate(pids):  # once a call returns, its process drained its mailbox
        assert await pid.call("log") == [i]
    assert all(pid._proc is not None and pid._proc._task is None for pid in pids)
    assert all(pid._proc is not None and pid._proc.mailbox is None for pid in pids)
    assert len(asyncio.all_tasks()) == before


class _UsesTimeoutAndTaskGroup(Actor):
    async def handle_call(self, request: Any, from_: Any) -> Any:
        # Both need a current task: handlers must run inside one from their first step.
        async with asyncio.timeout(1.0):
            async with asyncio.TaskGroup() as group:
                child = group.create_task(asyncio.sleep(0, result=request))
        return Reply(child.result())


async def test_handlers_can_use_asyncio_timeout_and_task_groups_from_their_first_step(
    node: Node,
) -> None:
    pid = node.spawn(_UsesTimeoutAndTaskGroup)
    assert await pid.call("hello") == "hello"
    assert pid.alive
