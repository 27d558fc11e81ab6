"""Links and exit signals (LNK-1..8), trap_exit (TRP-1..4), monitors
(MON-1..6), signal ordering (MSG-4) and exit reasons."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from typing import Any

import pytest

from bitnexus.actors import (
    Actor,
    Down,
    Exit,
    From,
    Node,
    Pid,
    Reply,
    Stop,
    Timeout,
    is_normal_exit,
    shutdown_reason,
)
from bitnexus.actors.testing import Probe


class Boom(Exception):
    pass


class Worker(Actor):
    """Reports what it handles to ``report``. Casts drive it:
    ``("raise", exc)``, ``("stop", reason)``, ``("exit_self", reason)``,
    ``("link", pid)``, ``("exit", pid, reason)``, ``("say", msg)``,
    ``("block", event)``; anything else is recorded."""

    def __init__(self, report: Pid[Any] | None = None, *, trap: bool = False) -> None:
        self.report = report
        self.trap = trap

    def tell(self, message: Any) -> None:
        if self.report is not None:
            self.report.send(message)

    async def init(self) -> None:
        if self.trap:
            self.trap_exit = True

    async def handle_cast(self, message: Any) -> Any:
        match message:
            case ("raise", error):
                raise error
            case ("stop", reason):
                return Stop(reason)
            case ("exit_self", reason):
                self.exit(self.pid, reason)
            case ("link", pid):
                self.link(pid)
            case ("exit", pid, reason):
                self.exit(pid, reason)
            case ("say", what):
                self.tell(what)
            case ("block", event):
                await event.wait()
            case _:
                self.tell(("cast", message))
        return None

    async def handle_info(self, message: Any) -> None:
        self.tell(("info", message))

    async def handle_call(self, request: Any, from_: From) -> Any:
        return Reply(request)

    async def terminate(self, reason: Any) -> None:
        self.tell(("terminate", reason))


async def start_linked(node: Node, probe: Probe, **kwargs: Any) -> Pid[Any]:
    pid = await node.start(Worker, **kwargs)
    probe.link(pid)
    return pid


# --- links --------------------------------------------------------------------------------


async def test_a_link_is_bidirectional_and_linking_twice_is_a_no_op(node: Node) -> None:
    a = await node.start(Worker)
    b = await node.start(Worker)
    node.link(a, b)
    node.link(b, a)
    assert node.info(a).links == (b,)  # type: ignore[union-attr]
    assert node.info(b).links == (a,)  # type: ignore[union-attr]


async def test_unlink_removes_the_link_so_the_exit_no_longer_spreads(node: Node) -> None:
    a = await node.start(Worker)
    b = await node.start(Worker)
    node.link(a, b)
    node.unlink(a, b)
    assert node.info(b).links == ()  # type: ignore[union-attr]
    node.exit(a, Boom("alone"))
    await asyncio.sleep(0.01)
    assert not a.alive
    assert b.alive


async def test_spawn_link_links_the_new_process_to_the_given_pid(node: Node, probe: Probe) -> None:
    pid = node.spawn_link(Worker, link_to=probe.pid)
    assert node.info(probe.pid).links == (pid,)  # type: ignore[union-attr]
    node.exit(pid, Boom("down"))
    exit_ = await probe.receive()
    assert isinstance(exit_, Exit) and exit_.pid == pid and isinstance(exit_.reason, Boom)


async def test_an_exit_reason_reaches_every_linked_process(node: Node) -> None:
    probes = [await Probe.start(node, trap_exit=True) for _ in range(3)]
    pid = await node.start(Worker)
    for probe in probes:
        probe.link(pid)
    error = Boom("crash")
    pid.cast(("raise", error))
    for probe in probes:
        assert await probe.receive() == Exit(pid, error)


async def test_a_normal_exit_leaves_linked_processes_alive_and_trappers_get_exit(
    node: Node, probe: Probe
) -> None:
    bystander = await node.start(Worker)
    pid = await start_linked(node, probe)
    node.link(pid, bystander)
    pid.cast(("stop", "normal"))
    assert await probe.receive() == Exit(pid, "normal")
    assert bystander.alive
    assert await bystander.call("ok") == "ok"


async def test_kill_cannot_be_trapped_and_links_see_killed(node: Node, probe: Probe) -> None:
    bystander = await node.start(Worker)
    pid = await start_linked(node, probe, report=probe.pid, trap=True)
    node.link(pid, bystander)
    node.exit(pid, "kill")
    assert not pid.alive
    assert await probe.receive() == Exit(pid, "killed")  # no terminate before it
    await asyncio.sleep(0.01)
    assert not bystander.alive  # "killed" is an ordinary reason for links


@pytest.mark.parametrize(
    "reason",
    ["shutdown", ("shutdown", "maintenance"), Boom("bad")],
    ids=["shutdown", "tuple", "exc"],
)
async def test_other_reasons_spread_along_a_chain_of_non_trapping_links(
    node: Node, probe: Probe, reason: Any
) -> None:
    chain = [await node.start(Worker) for _ in range(4)]
    for left, right in itertools.pairwise(chain):
        node.link(left, right)
    refs = {probe.monitor(pid): pid for pid in chain}
    probe.link(chain[-1])
    node.exit(chain[0], reason)
    assert await probe.receive(match=Exit) == Exit(chain[-1], reason)
    downs = [await probe.receive(match=Down) for _ in chain]
    assert {d.ref for d in downs} == set(refs)
    assert all(d.reason == reason for d in downs)
    assert len(node) == 1  # only the probe


async def test_a_long_chain_of_links_dies_without_exhausting_the_stack(node: Node) -> None:
    chain = [node.spawn(Worker) for _ in range(10_000)]
    for left, right in itertools.pairwise(chain):
        node.link(left, right)
    node.exit(chain[0], "shutdown")
    assert not any(pid.alive for pid in chain)


async def test_exiting_yourself_with_normal_ends_the_process_normally(
    node: Node, probe: Probe
) -> None:
    pid = await start_linked(node, probe)
    pid.cast(("exit_self", "normal"))
    assert await probe.receive() == Exit(pid, "normal")


async def test_a_normal_exit_signal_to_another_non_trapping_process_does_nothing(
    node: Node, probe: Probe
) -> None:
    target = await node.start(Worker)
    sender = await node.start(Worker)
    probe.link(target)
    sender.cast(("exit", target, "normal"))
    node.exit(target, "normal")
    await probe.refute_receive(timeout=0.05)
    assert target.alive


async def test_linking_to_a_dead_pid_gives_a_trapping_caller_a_noproc_exit(
    node: Node, probe: Probe
) -> None:
    dead = await node.start(Worker)
    node.exit(dead, "kill")
    probe.link(dead)
    assert await probe.receive() == Exit(dead, "noproc")


async def test_linking_to_a_dead_pid_ends_a_non_trapping_process_with_noproc(
    node: Node, probe: Probe
) -> None:
    dead = await node.start(Worker)
    node.exit(dead, "kill")
    pid = await node.start(Worker)
    ref = probe.monitor(pid)
    pid.cast(("link", dead))
    assert await probe.receive() == Down(ref, pid, "noproc")


async def test_an_exit_signal_names_its_sender_or_the_system_pid(node: Node, probe: Probe) -> None:
    sender = await node.start(Worker)
    sender.cast(("exit", probe.pid, "custom"))
    assert await probe.receive() == Exit(sender, "custom")
    node.exit(probe.pid, "from outside")
    assert await probe.receive() == Exit(node.system_pid, "from outside")
    assert probe.alive


async def test_a_message_sent_before_dying_arrives_before_the_exit_and_the_down(
    node: Node, probe: Probe
) -> None:
    pid = await start_linked(node, probe, report=probe.pid)
    ref = probe.monitor(pid)
    pid.cast(("say", "last words"))
    error = Boom("then crash")
    pid.cast(("raise", error))
    assert await probe.receive() == "last words"
    rest = [await probe.receive(), await probe.receive(), await probe.receive()]
    assert ("terminate", error) == rest[0]
    assert set(map(type, rest[1:])) == {Exit, Down}
    assert Down(ref, pid, error) in rest


# --- trap_exit ----------------------------------------------------------------------------


async def test_a_trapping_process_gets_exit_messages_behind_earlier_messages(
    node: Node, probe: Probe
) -> None:
    gate = asyncio.Event()
    pid = await node.start(Worker, probe.pid, trap=True)
    other = await node.start(Worker)
    node.link(pid, other)
    pid.cast(("block", gate))
    pid.cast("first")
    pid.cast("second")
    await asyncio.sleep(0.01)
    node.exit(other, Boom("linked crash"))
    gate.set()
    assert await probe.receive() == ("cast", "first")
    assert await probe.receive() == ("cast", "second")
    tag, exit_ = await probe.receive()
    assert tag == "info" and exit_.pid == other and isinstance(exit_.reason, Boom)
    assert pid.alive


async def test_an_exit_signal_from_the_parent_runs_terminate_instead_of_handle_info(
    node: Node, probe: Probe
) -> None:
    parent = await node.start(Worker)
    stranger = await node.start(Worker)
    child = await node.start(Worker, probe.pid, trap=True, parent=parent, link=parent)
    node.link(child, stranger)
    node.exit(stranger, "shutdown")
    assert await probe.receive() == ("info", Exit(stranger, "shutdown"))
    ref = probe.monitor(child)
    node.exit(parent, "kill")
    assert await probe.receive() == ("terminate", "killed")
    assert await probe.receive() == Down(ref, child, "killed")


async def test_terminate_runs_after_earlier_messages_and_later_ones_are_dropped(
    node: Node, probe: Probe
) -> None:
    gate = asyncio.Event()
    parent = await node.start(Worker)
    child = await node.start(Worker, probe.pid, trap=True, parent=parent)
    child.cast(("block", gate))
    child.cast("before")
    await asyncio.sleep(0.01)
    node.exit(child, "shutdown", sender=parent)
    child.cast("after")
    gate.set()
    assert await probe.receive() == ("cast", "before")
    assert await probe.receive() == ("terminate", "shutdown")
    await probe.refute_receive(timeout=0.05)
    assert not child.alive


async def test_terminate_does_not_run_on_kill_nor_on_a_linked_exit_without_trapping(
    node: Node, probe: Probe
) -> None:
    killed = await node.start(Worker, probe.pid, trap=True)
    linked = await node.start(Worker, probe.pid)
    other = await node.start(Worker)
    node.link(linked, other)
    node.exit(killed, "kill")
    node.exit(other, "shutdown")
    await asyncio.sleep(0.02)
    assert not killed.alive and not linked.alive
    await probe.refute_receive(timeout=0.05)


# --- monitors -----------------------------------------------------------------------------


async def test_a_monitor_delivers_exactly_one_down_and_never_kills_the_watcher(
    node: Node,
) -> None:
    watcher = await Probe.start(node)  # not trapping
    pid = await node.start(Worker)
    ref = watcher.monitor(pid)
    pid.cast(("raise", Boom("crash")))
    down = await watcher.receive()
    assert down.ref == ref and down.pid == pid and isinstance(down.reason, Boom)
    await watcher.refute_receive(timeout=0.05)
    assert watcher.alive


async def test_each_monitor_call_gets_its_own_ref_and_its_own_down(
    node: Node, probe: Probe
) -> None:
    pid = await node.start(Worker)
    refs = {probe.monitor(pid) for _ in range(3)}
    assert len(refs) == 3
    await node.stop(pid)
    downs = [await probe.receive() for _ in range(3)]
    assert {d.ref for d in downs} == refs
    assert all(d.reason == "normal" for d in downs)


async def test_monitoring_a_dead_or_unknown_pid_gives_down_noproc_at_once(
    node: Node, probe: Probe
) -> None:
    dead = await node.start(Worker)
    node.exit(dead, "kill")
    never = Pid(node.node_id, 999_999)
    for target in (dead, never):
        ref = probe.monitor(target)
        assert await probe.receive(timeout=0.5) == Down(ref, target, "noproc")


async def test_demonitor_stops_the_down_and_flush_removes_one_already_queued(
    node: Node, probe: Probe
) -> None:
    gate = asyncio.Event()
    watcher = await node.start(Worker, probe.pid)
    flushed = await node.start(Worker)
    kept = await node.start(Worker)
    silenced = await node.start(Worker)
    watcher.cast(("block", gate))
    await asyncio.sleep(0.01)
    ref_flushed = node.monitor(watcher, flushed)
    ref_kept = node.monitor(watcher, kept)
    ref_silenced = node.monitor(watcher, silenced)
    node.demonitor(ref_silenced)
    for pid in (flushed, kept, silenced):
        node.exit(pid, "kill")
    node.demonitor(ref_flushed, flush=True)
    node.demonitor(ref_kept)  # too late: the Down is already queued, no flush
    gate.set()
    assert await probe.receive() == ("info", Down(ref_kept, kept, "killed"))
    await probe.refute_receive(timeout=0.05)


async def test_the_down_reason_is_the_exit_reason(node: Node, probe: Probe) -> None:
    pids = [await node.start(Worker) for _ in range(4)]
    refs = [probe.monitor(pid) for pid in pids]
    error = Boom("crash")
    pids[0].cast(("stop", "normal"))
    await node.stop(pids[1], "shutdown")
    node.exit(pids[2], "kill")
    pids[3].cast(("raise", error))
    reasons = {}
    for _ in pids:
        down = await probe.receive()
        reasons[down.ref] = down.reason
    assert [reasons[ref] for ref in refs] == ["normal", "shutdown", "killed", error]


async def test_monitoring_by_name_watches_the_holder_at_that_moment_only(
    node: Node, probe: Probe
) -> None:
    first = await node.start(Worker, name="service")
    ref = probe.monitor(node.resolve("service"))
    node.exit(first, "kill")
    assert await probe.receive() == Down(ref, first, "killed")
    second = await node.start(Worker, name="service")
    node.exit(second, "kill")
    await probe.refute_receive(timeout=0.05)


async def test_spawn_monitor_returns_the_pid_and_a_live_monitor(node: Node, probe: Probe) -> None:
    pid, ref = node.spawn_monitor(Worker, watcher=probe.pid)
    assert node.info(probe.pid).monitors == (pid,)  # type: ignore[union-attr]
    assert node.info(pid).monitored_by == (probe.pid,)  # type: ignore[union-attr]
    pid.cast(("stop", "normal"))
    assert await probe.receive() == Down(ref, pid, "normal")
    assert node.info(probe.pid).monitors == ()  # type: ignore[union-attr]


async def test_a_monitor_from_outside_any_process_is_harmless(node: Node) -> None:
    pid = await node.start(Worker)
    node.monitor(None, pid)
    await node.stop(pid, "shutdown")
    assert len(node) == 0


# --- reasons and signal messages -----------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "normal"),
    [
        ("normal", True),
        ("shutdown", True),
        (("shutdown", {"why": 1}), True),
        (shutdown_reason("x"), True),
        ("killed", False),
        ("noproc", False),
        (("shutdown",), False),
        (("shutdown", 1, 2), False),
        (Boom("normal"), False),
    ],
)
def test_only_normal_shutdown_and_shutdown_tuples_are_normal_exits(
    reason: Any, normal: bool
) -> None:
    assert is_normal_exit(reason) is normal


def test_exit_and_down_messages_are_immutable_and_timeout_prints_its_name() -> None:
    exit_ = Exit(Pid(0, 1), "normal")
    with pytest.raises(dataclasses.FrozenInstanceError):
        exit_.reason = "changed"  # type: ignore[misc]
    assert repr(Timeout) == "Timeout"


@pytest.mark.parametrize("reason", ["kill", Boom("self-inflicted")], ids=["kill", "exc"])
async def test_a_process_that_sends_itself_an_exit_signal_dies_even_if_it_keeps_waiting(
    node: Node, probe: Probe, reason: Any
) -> None:
    class Selfish(Actor):
        async def handle_info(self, message: Any) -> None:
            if message == "await first":
                await asyncio.sleep(0)
            self.exit(self.pid, reason)
            await asyncio.sleep(10)

    for how in ("sync", "await first"):
        pid = await node.start(Selfish)
        ref = probe.monitor(pid)
        pid.send(how)
        down = await probe.receive(timeout=1.0)
        assert down.ref == ref
        assert down.reason == ("killed" if reason == "kill" else reason)



async def test_an_actor_demonitoring_with_flush_drops_a_down_queued_after_the_target_died(
    node: Node,
) -> None:
    class Watcher(Actor):
        def __init__(self) -> None:
            self.downs: list[Any] = []

        async def handle_call(self, request: Any, from_: Any) -> Any:
            op, arg = request
            if op == "monitor":
                return Reply(self.monitor(arg))
            if op == "kill_then_demonitor":
                target, ref = arg
                self.exit(target, "kill")  # its Down is now queued in our own mailbox
                self.demonitor(ref, flush=True)
                return Reply(None)
            return Reply(self.downs)

        async def handle_info(self, message: Any) -> None:
            if isinstance(message, Down):
                self.downs.append(message)

    target = node.spawn(Actor)
    watcher = node.spawn(Watcher)
    ref = await watcher.call(("monitor", target))
    await watcher.call(("kill_then_demonitor", (target, ref)))
    assert not target.alive
    assert await watcher.call(("downs", None)) == []
