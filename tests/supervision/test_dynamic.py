"""DynamicSupervisor (DYN-1..6, SHD-1..5; Elixir dynamic_supervisor_test.exs cases 1-41
where they apply: we have no module-based init, code_change, spawn_opt or global names)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bitnexus.actors import Actor, Ignore, Node, Pid, Stop
from bitnexus.actors.testing import Probe
from bitnexus.supervision import (
    BRUTAL_KILL,
    INFINITY,
    ChildSpec,
    DynamicSupervisor,
    InvalidChildSpec,
    Restart,
    Supervisor,
    SupervisorError,
)

from ._workers import (
    Gate,
    Log,
    Worker,
    down_reason,
    events,
    tags,
    wait_until,
    watch,
    while_held,
)


def spec(tag: Any = "w", log: Log | None = None, **options: Any) -> ChildSpec:
    return ChildSpec.for_actor(Worker, tag, log, id="ignored", **options)


def unowned(on_exit: Any, **options: Any) -> ChildSpec:
    """A trapping child linked to the supervisor but not owned by it, so the
    supervisor's shutdown reaches it as an ``Exit`` message and it stops with
    ``on_exit`` instead (Elixir cases 33, 35, 37)."""

    async def start(node: Node, parent: Pid[Any]) -> Pid[Any]:
        pid = await node.start(Worker, "unowned", trap=True, on_exit=on_exit)
        node.link(pid, parent)
        return pid

    return ChildSpec(id="unowned", start=start, **options)


async def live_pids(sup: Pid[Any]) -> list[Any]:
    return [pid for _id, pid, _type, _desc in await DynamicSupervisor.which_children(sup)]


async def counts(sup: Pid[Any]) -> tuple[int, int, int, int]:
    c = await DynamicSupervisor.count_children(sup)
    return (c["specs"], c["active"], c["supervisors"], c["workers"])


# -- starting ------------------------------------------------------------------------------------


async def test_a_dynamic_supervisor_starts_empty(node: Node) -> None:
    sup = await node.start(DynamicSupervisor)
    assert await DynamicSupervisor.which_children(sup) == []
    assert await counts(sup) == (0, 0, 0, 0)
    assert node.info(sup).summary == {  # type: ignore[union-attr]
        "strategy": "one_for_one",
        "children": 0,
        "max_children": None,
    }


async def test_start_child_starts_a_linked_child_owned_by_the_supervisor(node: Node) -> None:
    sup = await node.start(DynamicSupervisor)
    pid = await DynamicSupervisor.start_child(sup, spec())
    assert isinstance(pid, Pid) and pid.alive
    info = node.info(pid)
    assert info is not None and info.parent == sup and sup in info.links
    assert await DynamicSupervisor.which_children(sup) == [
        (None, pid, "worker", f"{Worker.__module__}.Worker")
    ]
    assert await counts(sup) == (1, 1, 0, 1)


async def test_the_spec_id_is_ignored_so_one_spec_starts_many_children(node: Node) -> None:
    sup = await node.start(DynamicSupervisor)
    first = await DynamicSupervisor.start_child(sup, spec())
    second = await DynamicSupervisor.start_child(sup, spec())
    assert first != second
    assert sorted(await live_pids(sup)) == sorted([first, second])


async def test_supervisor_children_are_counted_as_supervisors(node: Node) -> None:
    sup = await node.start(DynamicSupervisor)
    await DynamicSupervisor.start_child(sup, ChildSpec.for_actor(DynamicSupervisor, id="d"))
    await DynamicSupervisor.start_child(sup, spec())
    assert await counts(sup) == (2, 2, 1, 1)


async def test_extra_arguments_come_first_in_the_child_start_arguments(node: Node) -> None:
    sup = await node.start(DynamicSupervisor, extra_arguments=["from-sup"])
    pid = await DynamicSupervisor.start_child(sup, ChildSpec.for_actor(Worker, id="w"))
    assert await pid.call("extra") == "from-sup"  # type: ignore[union-attr]


async def test_extra_arguments_are_applied_again_on_restart(node: Node) -> None:
    sup = await node.start(DynamicSupervisor, extra_arguments=["from-sup"])
    old = await DynamicSupervisor.start_child(sup, ChildSpec.for_actor(Worker, id="w"))
    old.cast("crash")  # type: ignore[union-attr]
    new = await wait_until(lambda: _other_child(sup, old))
    assert await new.call("extra") == "from-sup"


async def _other_child(sup: Pid[Any], old: Any) -> Pid[Any] | None:
    for pid in await live_pids(sup):
        if isinstance(pid, Pid) and pid != old:
            return pid
    return None


async def test_a_child_that_ignores_is_not_kept(node: Node) -> None:
    sup = await node.start(DynamicSupervisor)
    assert await DynamicSupervisor.start_child(sup, spec(init_result=Ignore())) is None
    assert await counts(sup) == (0, 0, 0, 0)


async def test_a_child_whose_init_stops_is_refused_with_its_reason(node: Node) -> None:
    sup = await node.start(DynamicSupervisor)
    with pytest.raises(SupervisorError) as caught:
        await DynamicSupervisor.start_child(sup, spec(init_result=Stop("no room")))
    assert caught.value.reason == "no room"
    assert sup.alive and await counts(sup) == (0, 0, 0, 0)


async def test_a_start_function_that_raises_is_refused_and_the_supervisor_survives(
    node: Node,
) -> None:
    async def broken(node: Node, parent: Pid[Any]) -> Pid[Any]:
        raise KeyError("missing")

    sup = await node.start(DynamicSupervisor)
    with pytest.raises(SupervisorError) as caught:
        await DynamicSupervisor.start_child(sup, ChildSpec(id="x", start=broken))
    assert isinstance(caught.value.reason, KeyError)
    assert sup.alive
    assert isinstance(await DynamicSupervisor.start_child(sup, spec()), Pid)


async def test_a_start_function_returning_garbage_is_a_bad_return(node: Node) -> None:
    async def confused(node: Node, parent: Pid[Any]) -> Any:
        return ("ok", "not a pid")

    sup = await node.start(DynamicSupervisor)
    with pytest.raises(SupervisorError) as caught:
        await DynamicSupervisor.start_child(sup, ChildSpec(id="x", start=confused))
    assert caught.value.reason == ("bad_return", ("ok", "not a pid"))


@pytest.mark.parametrize(
    "options", [{"max_children": -1}, {"max_restarts": -1}, {"max_seconds": 0}]
)
async def test_invalid_options_are_refused(node: Node, options: dict[str, Any]) -> None:
    with pytest.raises(InvalidChildSpec):
        await node.start(DynamicSupervisor, **options)


async def test_max_children_zero_refuses_every_child(node: Node) -> None:
    sup = await node.start(DynamicSupervisor, max_children=0)
    with pytest.raises(SupervisorError) as caught:
        await DynamicSupervisor.start_child(sup, spec())
    assert caught.value.reason == "max_children"


async def test_max_children_caps_running_children(node: Node) -> None:
    sup = await node.start(DynamicSupervisor, max_children=2)
    first = await DynamicSupervisor.start_child(sup, spec())
    await DynamicSupervisor.start_child(sup, spec())
    with pytest.raises(SupervisorError):
        await DynamicSupervisor.start_child(sup, spec())
    await DynamicSupervisor.terminate_child(sup, first)  # type: ignore[arg-type]
    assert isinstance(await DynamicSupervisor.start_child(sup, spec()), Pid)


class SlowStart(Actor):
    async def init(self) -> Any:
        await asyncio.sleep(0.05)


async def test_concurrent_starts_never_exceed_max_children(node: Node) -> None:
    sup = await node.start(DynamicSupervisor, max_children=2)
    slow = ChildSpec.for_actor(SlowStart, restart=Restart.TEMPORARY)
    results = await asyncio.gather(
        *(DynamicSupervisor.start_child(sup, slow) for _ in range(5)), return_exceptions=True
    )
    assert sum(isinstance(r, Pid) for r in results) == 2
    refused = [r for r in results if isinstance(r, SupervisorError)]
    assert len(refused) == 3 and all(r.reason == "max_children" for r in refused)
    assert await counts(sup) == (2, 2, 0, 2)


async def busy_supervisor(node: Node, log: Log) -> tuple[Pid[Any], asyncio.Task[None]]:
    """A DynamicSupervisor busy stopping its slow child "slow" (0.1 s terminate)."""
    sup = await node.start(DynamicSupervisor)
    slow = await DynamicSupervisor.start_child(
        sup, spec("slow", log, trap=True, terminate_delay=0.1)
    )
    stopping = asyncio.create_task(DynamicSupervisor.terminate_child(sup, slow))  # type: ignore[arg-type]
    await asyncio.sleep(0)  # the supervisor now runs the terminate request
    return sup, stopping


async def test_a_start_waits_behind_what_the_supervisor_is_busy_with(node: Node) -> None:
    log: Log = []
    sup, stopping = await busy_supervisor(node, log)
    starting = asyncio.create_task(DynamicSupervisor.start_child(sup, spec("next", log)))
    await asyncio.sleep(0.03)
    assert not starting.done()  # queued: no shortcut past a busy supervisor
    await stopping
    await starting
    assert tags(log, "init") == ["slow", "next"]
    assert log.index(("terminated", "slow")) < log.index(("init", "next"))


async def test_start_temporary_starts_an_owned_child_that_is_never_restarted(node: Node) -> None:
    sup = await node.start(DynamicSupervisor, max_children=2)
    log: Log = []
    pid = await DynamicSupervisor.start_temporary(sup, Worker, "t", log)
    assert isinstance(pid, Pid)
    info = node.info(pid)
    assert info is not None and info.parent == sup and sup in info.links
    assert await DynamicSupervisor.which_children(sup) == [
        (None, pid, "worker", f"{Worker.__module__}.Worker")
    ]
    await DynamicSupervisor.start_temporary(sup, Worker, "u", log)
    with pytest.raises(SupervisorError) as full:
        await DynamicSupervisor.start_temporary(sup, Worker, "v", log)
    assert full.value.reason == "max_children"
    exited = node.wait_exit(pid)
    pid.cast("crash")
    assert await exited != "normal"
    assert pid not in await live_pids(sup)  # temporary: gone, not restarted
    assert len(await live_pids(sup)) == 1
    assert tags(log, "init") == ["t", "u"]


@pytest.mark.parametrize(
    ("init_result", "outcome"),
    [(Ignore(), None), (Stop("no"), "no")],
    ids=["ignore", "stop"],
)
async def test_start_temporary_reports_ignore_and_refusals_like_start_child(
    node: Node, init_result: Any, outcome: Any
) -> None:
    sup = await node.start(DynamicSupervisor)
    if outcome is None:
        assert await DynamicSupervisor.start_temporary(sup, Worker, init_result=init_result) is None
    else:
        with pytest.raises(SupervisorError) as refused:
            await DynamicSupervisor.start_temporary(sup, Worker, init_result=init_result)
        assert refused.value.reason == outcome
    assert await live_pids(sup) == []
    assert node.info(sup) is not None  # the supervisor survives


class PlainInit(Actor):
    def init(self) -> Any:  # type: ignore[override]
        return None


class DiesRightAfterInit(Actor):
    """Wakes its supervisor during init, then dies at once: the supervisor
    sees the exit before a starter running in place could record the child."""

    def __init__(self, sup: Pid[Any]) -> None:
        self.sup = sup

    async def init(self) -> Any:
        self.sup.send("hello")  # the supervisor runs before the starter resumes
        self.pid.cast("die")  # handled right after init, in the same run

    async def handle_cast(self, message: Any) -> Any:
        raise RuntimeError("died right after init")


async def test_an_idle_supervisor_lets_the_caller_start_a_plain_init_child(node: Node) -> None:
    sup = await node.start(DynamicSupervisor)
    handled = node.info(sup).handled  # type: ignore[union-attr]
    pid = await DynamicSupervisor.start_temporary(sup, PlainInit)
    assert node.info(sup).handled == handled  # type: ignore[union-attr]  # no message
    assert await live_pids(sup) == [pid]
    info = node.info(pid)
    assert info is not None and info.parent == sup and sup in info.links


async def test_a_child_dying_right_after_an_async_init_is_not_left_recorded(node: Node) -> None:
    sup = await node.start(DynamicSupervisor)
    pid = await DynamicSupervisor.start_temporary(sup, DiesRightAfterInit, sup)
    assert isinstance(pid, Pid)
    await node.wait_exit(pid)
    assert await live_pids(sup) == []
    assert await counts(sup) == (0, 0, 0, 0)


async def test_start_temporary_goes_through_the_mailbox_of_a_busy_supervisor(node: Node) -> None:
    log: Log = []
    sup, stopping = await busy_supervisor(node, log)
    pid = await DynamicSupervisor.start_temporary(sup, Worker, "next", log)
    assert stopping.done()  # it waited its turn
    assert log.index(("terminated", "slow")) < log.index(("init", "next"))
    assert await live_pids(sup) == [pid]


async def test_a_dynamic_supervisor_runs_under_a_supervisor_with_a_name(node: Node) -> None:
    dyn = ChildSpec.for_actor(DynamicSupervisor, id="dyn", name="rooms")
    top = await node.start(Supervisor, [dyn])
    rooms = node.whereis("rooms")
    assert rooms is not None
    assert (await Supervisor.which_children(top))[0][:3] == ("dyn", rooms, "supervisor")
    pid = await DynamicSupervisor.start_child(rooms, spec())
    assert await DynamicSupervisor.which_children(rooms) == [
        (None, pid, "worker", f"{Worker.__module__}.Worker")
    ]
    with pytest.raises(SupervisorError) as caught:
        await Supervisor.start_child(top, ChildSpec.for_actor(DynamicSupervisor, id="dyn"))
    assert caught.value.reason == ("already_started", rooms)


# -- restarts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["normal", "shutdown", "shutdown_with_term", "crash"])
@pytest.mark.parametrize(
    ("restart", "comes_back_after"),
    [
        (Restart.PERMANENT, {"normal", "shutdown", "shutdown_with_term", "crash"}),
        (Restart.TRANSIENT, {"crash"}),
        (Restart.TEMPORARY, set()),
    ],
)
async def test_the_restart_type_decides_whether_an_exited_child_comes_back(
    node: Node, watcher: Probe, restart: Restart, comes_back_after: set[str], how: str
) -> None:
    sup = await node.start(DynamicSupervisor)
    old = await DynamicSupervisor.start_child(sup, spec(restart=restart))
    assert old is not None
    watch(watcher, old)
    reason = {"normal": "normal", "shutdown": "shutdown", "shutdown_with_term": ("shutdown", 1)}
    old.cast("crash" if how == "crash" else ("stop", reason[how]))
    await down_reason(watcher, old)
    if how in comes_back_after:
        new = await wait_until(lambda: _other_child(sup, old))
        assert await new.call("get") == 0
        assert node.info(new).restarts == 1  # type: ignore[union-attr]
    else:
        assert await counts(sup) == (0, 0, 0, 0)


async def test_a_child_that_ignores_on_restart_is_dropped(node: Node) -> None:
    class IgnoreAfterFirst:
        starts = 0

    async def start(node: Node, parent: Pid[Any]) -> Pid[Any]:
        IgnoreAfterFirst.starts += 1
        result = None if IgnoreAfterFirst.starts == 1 else Ignore()
        return await node.start_link(Worker, init_result=result, link_to=parent, parent=parent)

    sup = await node.start(DynamicSupervisor)
    pid = await DynamicSupervisor.start_child(sup, ChildSpec(id="x", start=start))
    pid.cast("crash")  # type: ignore[union-attr]
    await wait_until(lambda: IgnoreAfterFirst.starts == 2)
    assert await counts(sup) == (0, 0, 0, 0)
    assert sup.alive


async def test_a_failed_restart_leaves_the_child_restarting_until_a_retry_works(
    node: Node,
) -> None:
    gate = Gate(hold=True)
    sup = await node.start(DynamicSupervisor, max_restarts=10)
    old = await DynamicSupervisor.start_child(sup, spec(gate=gate))
    gate.fail_next(1)
    old.cast("crash")  # type: ignore[union-attr]
    await wait_until(lambda: gate.attempts == 2)  # the supervisor is inside the failing start
    children, counted = await while_held(
        gate, DynamicSupervisor.which_children(sup), DynamicSupervisor.count_children(sup)
    )
    assert children == [(None, "restarting", "worker", f"{Worker.__module__}.Worker")]
    assert counted == {"specs": 1, "active": 0, "supervisors": 0, "workers": 1}
    new = await wait_until(lambda: _other_child(sup, old))
    assert new.alive and gate.attempts == 3


async def test_children_waiting_for_a_restart_count_toward_max_children(node: Node) -> None:
    gate = Gate(hold=True)
    sup = await node.start(DynamicSupervisor, max_children=1, max_restarts=10)
    old = await DynamicSupervisor.start_child(sup, spec(gate=gate))
    gate.fail_next(1)
    old.cast("crash")  # type: ignore[union-attr]
    await wait_until(lambda: gate.attempts == 2)
    (refused,) = await while_held(gate, DynamicSupervisor.start_child(sup, spec()))
    assert isinstance(refused, SupervisorError)
    assert refused.reason == "max_children"


async def test_terminating_a_child_that_waits_for_a_restart_removes_it(node: Node) -> None:
    gate = Gate(hold=True)
    sup = await node.start(DynamicSupervisor, max_restarts=10)
    old = await DynamicSupervisor.start_child(sup, spec(gate=gate))
    assert old is not None
    gate.closed = True
    old.cast("crash")
    await wait_until(lambda: gate.attempts == 2)
    assert await while_held(gate, DynamicSupervisor.terminate_child(sup, old)) == [None]
    assert await counts(sup) == (0, 0, 0, 0)
    await asyncio.sleep(0.1)
    assert gate.attempts == 2  # no retry after the child was removed
    assert sup.alive


async def test_a_child_that_cannot_restart_brings_the_supervisor_down(
    node: Node, watcher: Probe
) -> None:
    gate = Gate()
    sup = await node.start(DynamicSupervisor, max_restarts=1)
    watch(watcher, sup)
    pid = await DynamicSupervisor.start_child(sup, spec(gate=gate))
    gate.closed = True
    pid.cast("crash")  # type: ignore[union-attr]
    assert await down_reason(watcher, sup) == "shutdown"
    assert gate.attempts == 1 + 1


async def test_repeated_failed_retries_exceed_the_intensity(node: Node, watcher: Probe) -> None:
    gate = Gate()
    sup = await node.start(DynamicSupervisor, max_restarts=10)
    watch(watcher, sup)
    pid = await DynamicSupervisor.start_child(sup, spec(gate=gate))
    gate.closed = True
    pid.cast("crash")  # type: ignore[union-attr]
    assert await down_reason(watcher, sup) == "shutdown"
    assert gate.attempts == 1 + 10


async def test_the_default_intensity_is_three_restarts(node: Node, watcher: Probe) -> None:
    sup = await node.start(DynamicSupervisor)
    watch(watcher, sup)
    pid = await DynamicSupervisor.start_child(sup, spec())
    for _ in range(3):
        pid.cast("crash")  # type: ignore[union-attr]
        pid = await wait_until(lambda old=pid: _other_child(sup, old))
    assert sup.alive
    bystander = await DynamicSupervisor.start_child(sup, spec())
    pid.cast("crash")  # type: ignore[union-attr]
    assert await down_reason(watcher, sup) == "shutdown"
    assert not bystander.alive  # type: ignore[union-attr]


# -- shutdown -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shutdown", "expected"), [(BRUTAL_KILL, "killed"), (INFINITY, "shutdown"), (1.0, "shutdown")]
)
async def test_stopping_the_supervisor_stops_children_by_their_shutdown(
    node: Node, watcher: Probe, shutdown: Any, expected: str
) -> None:
    sup = await node.start(DynamicSupervisor)
    children = [await DynamicSupervisor.start_child(sup, spec(shutdown=shutdown)) for _ in range(3)]
    watch(watcher, *children)  # type: ignore[arg-type]
    await node.stop(sup, "shutdown")
    assert [await down_reason(watcher, pid) for pid in children] == [expected] * 3  # type: ignore[arg-type]
    assert len(node) == 1


@pytest.mark.parametrize("shutdown", [INFINITY, 1.0])
@pytest.mark.parametrize("own_reason", [("shutdown", "oops"), "oops"])
async def test_a_trapping_child_reports_the_reason_it_chose_to_exit_with(
    node: Node, watcher: Probe, shutdown: Any, own_reason: Any
) -> None:
    sup = await node.start(DynamicSupervisor)
    pid = await DynamicSupervisor.start_child(sup, unowned(own_reason, shutdown=shutdown))
    watch(watcher, pid)  # type: ignore[arg-type]
    await node.stop(sup, "shutdown")
    assert await down_reason(watcher, pid) == own_reason  # type: ignore[arg-type]


async def test_a_child_that_ignores_shutdown_is_killed_when_its_time_is_up(
    node: Node, watcher: Probe
) -> None:
    sup = await node.start(DynamicSupervisor)
    stubborn = await DynamicSupervisor.start_child(sup, spec(trap=True, hang=True, shutdown=0.05))
    polite = await DynamicSupervisor.start_child(sup, spec(shutdown=0.05))
    watch(watcher, stubborn, polite)  # type: ignore[arg-type]
    await node.stop(sup, "shutdown")
    assert await down_reason(watcher, stubborn) == "killed"  # type: ignore[arg-type]
    assert await down_reason(watcher, polite) == "shutdown"  # type: ignore[arg-type]


async def test_a_permanent_child_exiting_normally_during_shutdown_is_not_restarted(
    node: Node, watcher: Probe
) -> None:
    sup = await node.start(DynamicSupervisor)
    pid = await DynamicSupervisor.start_child(sup, unowned("normal"))
    watch(watcher, pid)  # type: ignore[arg-type]
    await node.stop(sup, "shutdown")
    assert await down_reason(watcher, pid) == "normal"  # type: ignore[arg-type]
    assert len(node) == 1


async def test_mixed_children_exit_by_their_own_shutdown(node: Node, watcher: Probe) -> None:
    sup = await node.start(DynamicSupervisor)
    patient = await DynamicSupervisor.start_child(sup, spec(shutdown=INFINITY))
    brutal = await DynamicSupervisor.start_child(sup, spec(shutdown=BRUTAL_KILL))
    watch(watcher, patient, brutal)  # type: ignore[arg-type]
    await node.stop(sup, "shutdown")
    assert await down_reason(watcher, patient) == "shutdown"  # type: ignore[arg-type]
    assert await down_reason(watcher, brutal) == "killed"  # type: ignore[arg-type]


async def test_children_are_stopped_in_parallel(node: Node) -> None:
    log: Log = []
    sup = await node.start(DynamicSupervisor)
    for tag in "abc":
        await DynamicSupervisor.start_child(sup, spec(tag, log, trap=True, terminate_delay=0.2))
    began = time.monotonic()
    await node.stop(sup, "shutdown")
    elapsed = time.monotonic() - began
    kinds = [entry[0] for entry in log if entry[0] in ("terminate", "terminated")]
    assert kinds == ["terminate"] * 3 + ["terminated"] * 3  # SHD-1: all signalled at once
    assert 0.2 <= elapsed < 0.5


@pytest.mark.parametrize(("shutdown", "expected"), [(BRUTAL_KILL, "killed"), (1.0, "shutdown")])
async def test_terminate_child_stops_it_and_forgets_it(
    node: Node, watcher: Probe, shutdown: Any, expected: str
) -> None:
    log: Log = []
    sup = await node.start(DynamicSupervisor)
    pid = await DynamicSupervisor.start_child(sup, spec("a", log, shutdown=shutdown))
    assert pid is not None
    watch(watcher, pid)
    await DynamicSupervisor.terminate_child(sup, pid)
    assert await down_reason(watcher, pid) == expected
    assert await counts(sup) == (0, 0, 0, 0)
    with pytest.raises(SupervisorError) as caught:
        await DynamicSupervisor.terminate_child(sup, pid)
    assert caught.value.reason == "not_found"
    assert tags(log, "init") == ["a"]  # not restarted
    assert events(log, "terminate") == []


async def test_ten_thousand_linked_workers_all_stop_with_their_dynamic_supervisor(
    node: Node,
) -> None:
    sup = await node.start(DynamicSupervisor)
    worker = ChildSpec.for_actor(Worker, id="w")
    workers = [await DynamicSupervisor.start_child(sup, worker) for _ in range(10_000)]
    assert (await DynamicSupervisor.count_children(sup))["active"] == 10_000
    assert len(node.info(sup).links) == 10_000  # type: ignore[union-attr]
    assert await node.stop(sup, "shutdown", timeout=10) == "shutdown"
    assert not any(pid.alive for pid in workers)  # type: ignore[union-attr]
    assert len(node) == 0
