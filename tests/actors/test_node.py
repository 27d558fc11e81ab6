"""The Node: spawn and start (GS-1), stop (GS-7), shutdown, lookups and the
``processes()`` snapshots operators see."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest

from bitnexus.actors import (
    Actor,
    Exit,
    From,
    Ignore,
    Node,
    NoReply,
    Pid,
    ProcessInfo,
    Reply,
    StartIgnored,
    Stop,
    Timeout,
)
from bitnexus.actors.testing import Probe
from bitnexus.exceptions import Misuse, NameTaken, NoProcess, StartError


class Boom(Exception):
    pass


class Lifecycle(Actor):
    """Reports init, messages and terminate to ``report``; ``init_result`` may
    be a value, an exception to raise, or ``("sleep", s)``."""

    def __init__(self, report: Pid[Any] | None = None, init_result: Any = None) -> None:
        self.report = report
        self.init_result = init_result
        self.ready = False

    def tell(self, message: Any) -> None:
        if self.report is not None:
            self.report.send(message)

    async def init(self) -> Any:
        self.tell("init")
        result = self.init_result
        if isinstance(result, BaseException):
            raise result
        if isinstance(result, tuple) and result[0] == "sleep":
            await asyncio.sleep(result[1])
            result = None
        self.ready = True
        return result

    async def handle_info(self, message: Any) -> Any:
        if isinstance(message, asyncio.Event):
            await message.wait()
            return None
        self.tell(("info", message))
        return None

    async def handle_call(self, request: Any, from_: From) -> Any:
        return Reply(self.ready if request == "ready?" else request)

    async def terminate(self, reason: Any) -> None:
        self.tell(("terminate", reason))


# --- spawn and start -----------------------------------------------------------------------


@pytest.mark.parametrize("init_result", [None, ("sleep", 0.01)], ids=["sync", "awaiting"])
async def test_spawn_returns_at_once_and_init_runs_before_any_message(
    node: Node, probe: Probe, init_result: Any
) -> None:
    pid = node.spawn(Lifecycle, probe.pid, init_result)
    assert node.info(pid).status == "starting"  # type: ignore[union-attr]
    pid.send("first")
    assert await probe.receive() == "init"
    assert await probe.receive() == ("info", "first")


async def test_start_waits_until_init_has_returned(node: Node) -> None:
    pid = await node.start(Lifecycle, None, ("sleep", 0.02))
    assert node.info(pid).status == "waiting"  # type: ignore[union-attr]
    assert await pid.call("ready?") is True


async def test_start_raises_start_error_carrying_the_exception_init_raised(node: Node) -> None:
    error = Boom("no database")
    with pytest.raises(StartError) as raised:
        await node.start(Lifecycle, None, error)
    assert raised.value.reason is error
    assert raised.value.__cause__ is error
    assert len(node) == 0


async def test_start_raises_start_error_when_init_returns_stop_without_terminate(
    node: Node, probe: Probe
) -> None:
    with pytest.raises(StartError) as raised:
        await node.start(Lifecycle, probe.pid, Stop(("shutdown", "not configured")))
    assert raised.value.reason == ("shutdown", "not configured")
    assert await probe.receive() == "init"
    await probe.refute_receive(timeout=0.05)  # no terminate


async def test_start_raises_start_ignored_when_init_returns_ignore(node: Node) -> None:
    exits: list[tuple[Pid[Any], Any]] = []
    node.exit_listeners.append(lambda pid, reason: exits.append((pid, reason)))
    with pytest.raises(StartIgnored) as raised:
        await node.start(Lifecycle, None, Ignore())
    assert isinstance(raised.value, StartError)
    assert raised.value.reason == "ignore"
    assert [reason for _pid, reason in exits] == ["normal"]
    assert len(node) == 0


@pytest.mark.parametrize(
    "init_result",
    [Boom("init crashed"), Stop(Boom("refused")), Stop("shutdown"), Ignore()],
    ids=["raise", "stop-error", "stop-shutdown", "ignore"],
)
async def test_a_failed_start_does_not_kill_or_signal_the_linked_caller(
    node: Node, init_result: Any
) -> None:
    plain = await Probe.start(node)
    trapping = await Probe.start(node, trap_exit=True)
    for caller in (plain, trapping):
        with pytest.raises(StartError):
            await node.start_link(Lifecycle, None, init_result, link_to=caller.pid)
    assert plain.alive and trapping.alive
    await trapping.refute_receive(timeout=0.05)
    assert node.info(trapping.pid).links == ()  # type: ignore[union-attr]


async def test_a_failed_init_under_plain_spawn_signals_the_linked_process(
    node: Node, probe: Probe
) -> None:
    error = Boom("init crashed")
    pid = node.spawn_link(Lifecycle, None, error, link_to=probe.pid)
    assert await probe.receive() == Exit(pid, error)


async def test_start_gives_up_after_its_timeout_and_kills_the_slow_process(
    node: Node,
) -> None:
    caller = await Probe.start(node)
    started = time.monotonic()
    with pytest.raises(StartError) as raised:
        await node.start(Lifecycle, None, ("sleep", 10), timeout=0.05, link=caller.pid)
    assert raised.value.reason == "timeout"
    assert time.monotonic() - started < 1.0
    await asyncio.sleep(0.01)
    assert len(node) == 1
    assert caller.alive


async def test_start_with_a_taken_name_raises_name_taken_and_runs_nothing(
    node: Node, probe: Probe
) -> None:
    holder = await node.start(Lifecycle, name="accounts")
    with pytest.raises(NameTaken) as raised:
        await node.start(Lifecycle, probe.pid, name="accounts")
    assert raised.value.holder == holder
    assert len(node) == 2  # the holder and the probe
    await probe.refute_receive(timeout=0.05)


# --- stop, wait_exit, shutdown ----------------------------------------------------------------


class PlainInit(Lifecycle):
    """Lifecycle with a plain-def init: it runs inside spawn."""

    def init(self) -> Any:  # type: ignore[override]
        self.tell("init")
        result = self.init_result
        if isinstance(result, BaseException):
            raise result
        self.ready = True
        return result


async def test_a_plain_def_init_has_run_when_spawn_returns(node: Node, probe: Probe) -> None:
    pid = node.spawn(PlainInit, probe.pid)
    assert node.info(pid).status == "waiting"  # type: ignore[union-attr]
    pid.send("first")
    assert await probe.receive() == "init"
    assert await probe.receive() == ("info", "first")
    assert await pid.call("ready?") is True


@pytest.mark.parametrize(
    ("init_result", "reason"),
    [(Boom("init crashed"), Boom), (Stop(("shutdown", "no")), ("shutdown", "no"))],
    ids=["raise", "stop"],
)
async def test_a_failed_plain_init_fails_start_without_signalling_the_caller(
    node: Node, init_result: Any, reason: Any
) -> None:
    caller = await Probe.start(node, trap_exit=True)
    with pytest.raises(StartError) as raised:
        await node.start_link(PlainInit, None, init_result, link_to=caller.pid)
    if reason is Boom:
        assert raised.value.reason is init_result
        assert raised.value.__cause__ is init_result
    else:
        assert raised.value.reason == reason
    await caller.refute_receive(timeout=0.05)
    assert node.info(caller.pid).links == ()  # type: ignore[union-attr]
    assert len(node) == 1  # only the caller


async def test_start_now_returns_a_started_pid_without_awaiting(node: Node, probe: Probe) -> None:
    pid = node.start_now(PlainInit, probe.pid, link=probe.pid)
    assert node.info(pid).status == "waiting"  # type: ignore[union-attr]
    assert node.info(probe.pid).links == (pid,)  # type: ignore[union-attr]
    assert await probe.receive() == "init"
    assert await pid.call("ready?") is True


async def test_start_now_fails_like_start_and_spares_the_linked_caller(node: Node) -> None:
    caller = await Probe.start(node, trap_exit=True)
    error = Boom("init crashed")
    with pytest.raises(StartError) as raised:
        node.start_now(PlainInit, None, error, link=caller.pid)
    assert raised.value.reason is error
    with pytest.raises(StartIgnored):
        node.start_now(PlainInit, None, Ignore())
    await caller.refute_receive(timeout=0.05)
    assert len(node) == 1  # only the caller


async def test_start_now_refuses_an_async_init_it_could_not_wait_for(node: Node) -> None:
    with pytest.raises(Misuse, match=r"await node\.start"):
        node.start_now(Lifecycle)
    assert len(node) == 0


async def test_a_plain_init_returning_ignore_raises_start_ignored(node: Node) -> None:
    with pytest.raises(StartIgnored):
        await node.start(PlainInit, None, Ignore())
    assert len(node) == 0


async def test_a_plain_init_returning_garbage_fails_start_naming_the_shapes(node: Node) -> None:
    with pytest.raises(StartError) as raised:
        await node.start(PlainInit, None, "ok")
    assert "init" in str(raised.value.reason) and "Ignore()" in str(raised.value.reason)


async def test_a_failed_plain_init_under_plain_spawn_signals_the_linked_process(
    node: Node, probe: Probe
) -> None:
    error = Boom("init crashed")
    pid = node.spawn_link(PlainInit, None, error, link_to=probe.pid)
    assert await probe.receive() == Exit(pid, error)


class Nesting(Actor):
    """A plain init that spawns a child whose plain init fails."""

    def __init__(self, report: Pid[Any]) -> None:
        self.report = report

    def init(self) -> Any:  # type: ignore[override]
        self.child = self.node.spawn(PlainInit, None, Boom("child"))
        return None

    async def handle_call(self, request: Any, from_: From) -> Any:
        return Reply(self.child)


async def test_a_child_failing_inside_a_plain_init_does_not_fail_the_outer_start(
    node: Node, probe: Probe
) -> None:
    pid = await node.start(Nesting, probe.pid)
    child = await pid.call("child")
    assert node.info(pid) is not None
    assert node.info(child) is None


class Sleepy(Actor):
    def __init__(self, report: Pid[Any]) -> None:
        self.report = report

    def init(self) -> Any:  # type: ignore[override]
        return NoReply(timeout=0.02)

    async def handle_info(self, message: Any) -> Any:
        self.report.send(message)


async def test_a_plain_init_can_ask_for_a_timeout(node: Node, probe: Probe) -> None:
    await node.start(Sleepy, probe.pid)
    assert await probe.receive(timeout=1.0) is Timeout


async def test_stop_runs_terminate_and_returns_the_exit_reason(node: Node, probe: Probe) -> None:
    pid = await node.start(Lifecycle, probe.pid)
    await probe.receive()
    assert await node.stop(pid, ("shutdown", "deploy")) == ("shutdown", "deploy")
    assert probe.flush() == [("terminate", ("shutdown", "deploy"))]
    assert not pid.alive


async def test_stop_lets_the_process_handle_earlier_messages_first(
    node: Node, probe: Probe
) -> None:
    pid = await node.start(Lifecycle, probe.pid)
    pid.send("one")
    pid.send("two")
    await node.stop(pid)
    assert probe.flush() == ["init", ("info", "one"), ("info", "two"), ("terminate", "normal")]


async def test_stop_on_a_dead_pid_raises_no_process(node: Node) -> None:
    pid = await node.start(Lifecycle)
    await node.stop(pid)
    with pytest.raises(NoProcess):
        await node.stop(pid)


async def test_stop_kills_a_process_whose_terminate_outlives_the_timeout(node: Node) -> None:
    class Stubborn(Actor):
        async def terminate(self, reason: Any) -> None:
            await asyncio.sleep(10)

    pid = await node.start(Stubborn)
    started = time.monotonic()
    assert await node.stop(pid, timeout=0.05) == "killed"
    assert time.monotonic() - started < 1.0


async def test_a_process_cannot_stop_itself_through_node_stop(node: Node) -> None:
    class Suicidal(Actor):
        async def handle_call(self, request: Any, from_: From) -> Any:
            try:
                await self.node.stop(self.pid, timeout=1.0)
            except Misuse as exc:
                return Reply(str(exc))
            return Reply("stop returned")

    pid = await node.start(Suicidal)
    assert "calling_self" in await pid.call("stop yourself", timeout=2.0)
    assert pid.alive


async def test_wait_exit_returns_the_reason_or_noproc_for_a_dead_pid(node: Node) -> None:
    pid = await node.start(Lifecycle)
    waiting = asyncio.ensure_future(node.wait_exit(pid))
    await asyncio.sleep(0)
    node.exit(pid, ("shutdown", 1))
    assert await waiting == ("shutdown", 1)
    assert await node.wait_exit(pid) == "noproc"


async def test_shutdown_stops_every_process_and_trapping_ones_run_terminate(
    node: Node,
) -> None:
    terminated: list[tuple[str, Any]] = []

    class Noted(Actor):
        def __init__(self, label: str) -> None:
            self.label = label

        async def terminate(self, reason: Any) -> None:
            terminated.append((self.label, reason))

    parent = await node.start(Noted, "parent")
    plain = await node.start(Noted, "plain")
    orphan = await node.start(Noted, "orphan", trap_exit=True)
    child = await node.start(Noted, "child", trap_exit=True, parent=parent, link=parent)
    started = time.monotonic()
    await node.shutdown(timeout=5.0)
    assert time.monotonic() - started < 1.0
    assert len(node) == 0
    assert not any(p.alive for p in (parent, plain, orphan, child))
    assert sorted(terminated) == [("child", "shutdown"), ("orphan", "shutdown")]


async def test_shutdown_kills_what_is_left_after_its_timeout(node: Node) -> None:
    class Stubborn(Actor):
        async def terminate(self, reason: Any) -> None:
            await asyncio.sleep(10)

    pid = await node.start(Stubborn, trap_exit=True)
    started = time.monotonic()
    await node.shutdown(timeout=0.05)
    assert time.monotonic() - started < 1.0
    assert not pid.alive


# --- lookups and bookkeeping ------------------------------------------------------------------


async def test_names_resolve_to_pids_and_pids_resolve_to_themselves(node: Node) -> None:
    pid = await node.start(Lifecycle, name=("service", "mail"))
    assert node.whereis(("service", "mail")) == pid
    assert node.resolve(("service", "mail")) == pid
    assert node.resolve(pid) is pid
    assert node.whereis("other") is None


async def test_len_pids_and_lookup_pid_list_only_live_processes(node: Node) -> None:
    pids = [await node.start(Lifecycle) for _ in range(3)]
    await node.stop(pids[1])
    assert len(node) == 2
    assert list(node.pids()) == [pids[0], pids[2]]
    assert node.lookup_pid(pids[0].serial) == pids[0]
    assert node.lookup_pid(pids[1].serial) is None


async def test_statistics_count_live_spawned_and_crashed_processes(node: Node) -> None:
    pids = [await node.start(Lifecycle) for _ in range(3)]
    node.exit(pids[0], Boom("crash"))
    await node.stop(pids[1])
    assert node.statistics() == {"processes": 1, "spawned_total": 3, "crashed_total": 1}


async def test_exit_listeners_hear_every_exit_and_a_failing_one_breaks_nothing(
    node: Node, caplog: pytest.LogCaptureFixture
) -> None:
    heard: list[tuple[Pid[Any], Any]] = []

    def broken(pid: Pid[Any], reason: Any) -> None:
        raise RuntimeError("listener bug")

    node.exit_listeners.extend([broken, lambda pid, reason: heard.append((pid, reason))])
    a = await node.start(Lifecycle)
    b = await node.start(Lifecycle)
    await node.stop(a, "shutdown")
    node.exit(b, "kill")
    assert heard == [(a, "shutdown"), (b, "killed")]
    assert any("exit listener failed" in r.getMessage() for r in caplog.records)


async def test_nodes_are_independent_of_each_other() -> None:
    one, two = Node(), Node()
    a = await one.start(Lifecycle, name="same")
    b = await two.start(Lifecycle, name="same")
    assert a != b
    assert repr(a).split(".")[0] != repr(b).split(".")[0]
    await one.shutdown()
    assert b.alive and two.whereis("same") == b
    await two.shutdown()


# --- snapshots -------------------------------------------------------------------------------


class Inspected(Actor):
    kind = "service"

    def __init__(self) -> None:
        self.count = 0

    async def init(self) -> None:
        self.set_label("inspected")

    async def handle_info(self, message: Any) -> Any:
        self.count += 1
        if isinstance(message, asyncio.Event):
            await message.wait()
        return None

    def summary(self) -> Any:
        return {"count": self.count}


async def test_a_snapshot_reflects_the_process_as_it_is(node: Node, probe: Probe) -> None:
    parent = await node.start(Lifecycle)
    linked = await node.start(Lifecycle)
    watched = await node.start(Lifecycle)
    before = time.time()
    pid = await node.start(Inspected, name="inspected", parent=parent, trap_exit=True)
    after = time.time()
    node.link(pid, linked)
    node.link(pid, parent)
    node.monitor(pid, watched)
    probe.monitor(pid)
    gate = asyncio.Event()
    pid.send("one")
    pid.send(gate)
    pid.send("queued 1")
    pid.send("queued 2")
    await asyncio.sleep(0.01)

    info = node.info(pid)
    assert info is not None
    assert info.pid == pid
    assert info.name == "inspected"
    assert info.kind == "service"
    assert info.actor.endswith("Inspected")
    assert info.parent == parent
    assert info.links == tuple(sorted((parent, linked)))
    assert info.monitors == (watched,)
    assert info.monitored_by == (probe.pid,)
    assert info.mailbox_len == 2
    assert info.handled == 2  # init and "one"; the gate is still running
    assert before <= info.started_at <= after
    assert info.status == "running"
    assert info.trap_exit is True
    assert info.label == "inspected"
    assert info.summary == {"count": 2}

    gate.set()
    await asyncio.sleep(0.01)
    later = node.info(pid)
    assert later is not None
    assert (later.status, later.mailbox_len, later.handled) == ("waiting", 0, 5)
    assert later.summary == {"count": 4}
    assert (info.status, info.mailbox_len, info.handled) == ("running", 2, 2)  # unchanged


async def test_snapshots_are_immutable(node: Node) -> None:
    pid = await node.start(Inspected)
    info = node.info(pid)
    assert isinstance(info, ProcessInfo)
    for field in ("pid", "name", "status", "mailbox_len", "links", "summary"):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(info, field, None)
    assert isinstance(info.links, tuple)
    assert isinstance(info.monitors, tuple)
    assert isinstance(info.monitored_by, tuple)


async def test_processes_lists_live_processes_in_spawn_order(node: Node) -> None:
    pids = [await node.start(Lifecycle) for _ in range(4)]
    node.exit(pids[2], "kill")
    assert [info.pid for info in node.processes()] == [pids[0], pids[1], pids[3]]
    assert node.info(pids[2]) is None


async def test_a_process_in_terminate_shows_as_exiting(node: Node) -> None:
    gate = asyncio.Event()

    class SlowTerminate(Actor):
        async def handle_cast(self, message: Any) -> Any:
            return Stop("normal")

        async def terminate(self, reason: Any) -> None:
            await gate.wait()

    pid = await node.start(SlowTerminate)
    pid.cast("stop")
    await asyncio.sleep(0.01)
    assert node.info(pid).status == "exiting"  # type: ignore[union-attr]
    gate.set()
    assert await node.wait_exit(pid) == "normal"


async def test_a_broken_summary_does_not_break_the_process_list(node: Node) -> None:
    class Broken(Actor):
        def summary(self) -> Any:
            raise ValueError("oops")

    pid = await node.start(Broken)
    (info,) = [i for i in node.processes() if i.pid == pid]
    assert "summary failed" in info.summary and "oops" in info.summary


async def test_snapshots_drop_links_and_monitors_of_dead_processes(node: Node) -> None:
    pid = await node.start(Lifecycle)
    other = await node.start(Lifecycle)
    node.link(pid, other)
    node.monitor(pid, other)
    assert node.info(pid).links == (other,)  # type: ignore[union-attr]
    node.exit(other, "normal", sender=other)  # exits itself normally: pid survives
    await asyncio.sleep(0.01)
    info = node.info(pid)
    assert info is not None and info.links == () and info.monitors == ()
    assert node.info(other) is None


async def test_starting_a_process_linked_to_a_dead_pid_fails_with_noproc_at_once(
    node: Node,
) -> None:
    dead = await node.start(Lifecycle)
    node.exit(dead, "kill")
    started = time.monotonic()
    with pytest.raises(StartError) as raised:
        await node.start(Lifecycle, link=dead)
    assert raised.value.reason == "noproc"
    assert time.monotonic() - started < 1.0


async def test_a_trapping_process_spawned_linked_to_a_dead_pid_runs_init_then_gets_exit(
    node: Node, probe: Probe
) -> None:
    dead = await node.start(Lifecycle)
    node.exit(dead, "kill")
    pid = node.spawn(Lifecycle, probe.pid, trap_exit=True, link=dead, parent=probe.pid)
    assert await probe.receive() == "init"
    assert await probe.receive() == ("info", Exit(dead, "noproc"))
    assert pid.alive


class Owner(Actor):
    """Starts linked helpers in ``init``; ``fail`` decides how init ends."""

    def __init__(self, helpers: list[Pid[Any]], fail: Any = None) -> None:
        self.helpers = helpers
        self.fail = fail

    async def init(self) -> Any:
        self.helpers.append(await self.node.start_link(Lifecycle, link_to=self.pid))
        if self.fail == "raise":
            raise Boom("after starting a helper")
        if self.fail == "hang":
            await asyncio.sleep(10)
        return None


@pytest.mark.parametrize("fail", ["raise", "hang"])
async def test_a_failed_start_still_takes_down_what_init_linked_but_not_the_caller(
    node: Node, fail: str
) -> None:
    caller = await Probe.start(node)
    helpers: list[Pid[Any]] = []
    with pytest.raises(StartError):
        await node.start(Owner, helpers, fail, link=caller.pid, timeout=0.1)
    await asyncio.sleep(0.01)
    assert helpers and not helpers[0].alive
    assert caller.alive
    assert len(node) == 1


async def test_shutdown_stops_each_tree_from_its_root_down(node: Node) -> None:
    log: list[str] = []

    class Leaf(Actor):
        def __init__(self, label: str) -> None:
            self.label = label

        async def terminate(self, reason: Any) -> None:
            log.append(self.label)

    class Root(Actor):
        async def init(self) -> None:
            self.trap_exit = True
            self.leaves = [
                await self.node.start(Leaf, label, link=self.pid, parent=self.pid, trap_exit=True)
                for label in ("first", "second")
            ]

        async def terminate(self, reason: Any) -> None:
            log.append(f"root {reason}")
            for leaf in self.leaves:  # on purpose in start order
                await self.node.stop(leaf, reason)

    await node.start(Root)
    await node.shutdown(timeout=2.0)
    assert log == ["root shutdown", "first", "second"]
    assert len(node) == 0


async def test_start_fails_at_once_when_the_process_is_killed_during_init(node: Node) -> None:
    loop = asyncio.get_running_loop()
    pid_box: list[Pid[Any]] = []

    class Slow(Lifecycle):
        async def init(self) -> Any:
            pid_box.append(self.pid)
            loop.call_later(0.02, node.exit, self.pid, "kill")
            await asyncio.sleep(10)

    started = time.monotonic()
    with pytest.raises(StartError) as raised:
        await node.start(Slow, timeout=5.0)
    assert raised.value.reason == "killed"
    assert time.monotonic() - started < 1.0
    assert not pid_box[0].alive
