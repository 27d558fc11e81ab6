"""The static Supervisor (SUP-1..8, SUP-10, RST-1..3, INT-1..5, SHD-1..5).

Ports Elixir's supervisor_test.exs (cases 8, 11-16) and the groups of OTP's
supervisor_SUITE: sup_start, sup_stop, normal/shutdown/abnormal termination,
restart_one_for_one/one_for_all/rest_for_one (with escalation and "other
child fails restart"), multiple_restarts, child_adm, count_children, tree,
hanging_restart_loop and temporary_bystander.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import pytest

from bitnexus.actors import Actor, Ignore, Node, Pid, Stop
from bitnexus.actors.testing import Probe
from bitnexus.exceptions import StartError
from bitnexus.supervision import (
    BRUTAL_KILL,
    INFINITY,
    ChildSpec,
    ChildType,
    InvalidChildSpec,
    Restart,
    Strategy,
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


def spec(tag: str, log: Log | None = None, **options: Any) -> ChildSpec:
    """A Worker child whose id and tag are ``tag``."""
    return ChildSpec.for_actor(Worker, tag, log, id=tag, **options)


async def pids(sup: Pid[Any]) -> dict[Any, Any]:
    return {cid: pid for cid, pid, _type, _desc in await Supervisor.which_children(sup)}


async def restarted(sup: Pid[Any], cid: Any, old: Pid[Any]) -> Pid[Any]:
    """Wait until child ``cid`` runs again under a pid other than ``old``."""

    async def check() -> Pid[Any] | None:
        pid = (await pids(sup)).get(cid)
        return pid if isinstance(pid, Pid) and pid != old else None

    return await wait_until(check)  # type: ignore[no-any-return]


async def crash_and_wait(sup: Pid[Any], cid: Any) -> Pid[Any]:
    old = (await pids(sup))[cid]
    old.cast("crash")
    return await restarted(sup, cid, old)


# -- sup_start --------------------------------------------------------------------------------


async def test_children_start_one_by_one_in_list_order(node: Node) -> None:
    log: Log = []
    sup = await node.start(Supervisor, [spec("a", log), spec("b", log), spec("c", log)])
    assert tags(log, "init") == ["a", "b", "c"]
    children = await Supervisor.which_children(sup)
    assert [c[0] for c in children] == ["a", "b", "c"]
    assert all(isinstance(pid, Pid) and pid.alive for _id, pid, _t, _d in children)
    assert {node.info(pid).parent for _id, pid, _t, _d in children} == {sup}  # type: ignore[union-attr]


async def test_which_children_reports_id_pid_type_and_description(node: Node) -> None:
    sub = ChildSpec.for_actor(Supervisor, [], id="sub")
    sup = await node.start(Supervisor, [spec("a"), sub])
    (a_id, a_pid, a_type, a_desc), (s_id, s_pid, s_type, s_desc) = await Supervisor.which_children(
        sup
    )
    assert (a_id, a_type, a_desc) == ("a", "worker", f"{Worker.__module__}.Worker")
    assert (s_id, s_type) == ("sub", "supervisor")
    assert s_desc == "bitnexus.supervision.supervisor.Supervisor"
    assert node.info(a_pid).kind == "worker"  # type: ignore[union-attr]
    assert node.info(s_pid).kind == "supervisor"  # type: ignore[union-attr]


async def test_a_child_that_ignores_keeps_its_spec_without_a_pid(node: Node) -> None:
    sup = await node.start(Supervisor, [spec("quiet", init_result=Ignore()), spec("b")])
    children = await pids(sup)
    assert children["quiet"] is None
    assert isinstance(children["b"], Pid)
    assert await Supervisor.count_children(sup) == {
        "specs": 2,
        "active": 1,
        "supervisors": 0,
        "workers": 2,
    }


async def test_an_ignoring_temporary_child_leaves_no_spec(node: Node) -> None:
    quiet = spec("quiet", init_result=Ignore(), restart=Restart.TEMPORARY)
    sup = await node.start(Supervisor, [quiet, spec("b")])
    assert list(await pids(sup)) == ["b"]


async def test_a_child_whose_init_stops_fails_the_supervisor_start(node: Node) -> None:
    with pytest.raises(StartError) as caught:
        await node.start(Supervisor, [spec("a"), spec("b", init_result=Stop("no db"))])
    assert caught.value.reason == ("shutdown", ("failed_to_start_child", "b", "no db"))


async def test_a_child_whose_init_raises_fails_the_supervisor_start_with_the_exception(
    node: Node,
) -> None:
    with pytest.raises(StartError) as caught:
        await node.start(Supervisor, [spec("a", gate=Gate(closed=True))])
    shutdown, (what, cid, reason) = caught.value.reason
    assert (shutdown, what, cid) == ("shutdown", "failed_to_start_child", "a")
    assert isinstance(reason, RuntimeError)
    assert "gate closed" in str(reason)


async def test_children_started_before_a_failing_one_are_stopped_in_reverse_order(
    node: Node,
) -> None:
    log: Log = []
    children = [
        spec("a", log, trap=True),
        spec("b", log, trap=True),
        spec("c", log, init_result=Stop("boom")),
    ]
    with pytest.raises(StartError):
        await node.start(Supervisor, children)
    assert tags(log, "init") == ["a", "b", "c"]  # c's init ran and refused
    assert events(log, "terminate") == [("b", "shutdown"), ("a", "shutdown")]
    assert len(node) == 0


async def test_a_start_function_that_raises_fails_the_start_with_its_exception(node: Node) -> None:
    async def broken(node: Node, parent: Pid[Any]) -> Pid[Any]:
        raise ValueError("bad config")

    with pytest.raises(StartError) as caught:
        await node.start(Supervisor, [ChildSpec(id="x", start=broken)])
    reason = caught.value.reason[1][2]
    assert isinstance(reason, ValueError)
    assert str(reason) == "bad config"


async def test_a_start_function_that_returns_no_pid_is_a_bad_return(node: Node) -> None:
    async def confused(node: Node, parent: Pid[Any]) -> Any:
        return "ok"

    with pytest.raises(StartError) as caught:
        await node.start(Supervisor, [ChildSpec(id="x", start=confused)])
    assert caught.value.reason == ("shutdown", ("failed_to_start_child", "x", ("bad_return", "ok")))


async def test_duplicate_child_ids_are_refused_before_any_child_starts(node: Node) -> None:
    log: Log = []
    with pytest.raises(InvalidChildSpec, match="duplicate child id 'a'"):
        await node.start(Supervisor, [spec("a", log), spec("b", log), spec("a", log)])
    assert log == []
    assert len(node) == 0


@pytest.mark.parametrize("options", [{"max_restarts": -1}, {"max_seconds": 0}])
async def test_invalid_restart_intensity_is_refused(node: Node, options: dict[str, Any]) -> None:
    with pytest.raises(InvalidChildSpec):
        await node.start(Supervisor, [], **options)


async def test_an_unknown_strategy_is_refused(node: Node) -> None:
    with pytest.raises(ValueError, match="one_for_some"):
        await node.start(Supervisor, [], strategy="one_for_some")


async def test_a_supervisor_defaults_to_one_for_one_and_three_restarts_in_five_seconds(
    node: Node,
) -> None:
    sup = await node.start(Supervisor, [])
    assert node.info(sup).summary == {  # type: ignore[union-attr]
        "strategy": "one_for_one",
        "children": 0,
        "max_restarts": 3,
        "max_seconds": 5.0,
    }


async def test_a_named_supervisor_is_reachable_by_its_name(node: Node) -> None:
    sup = await node.start(Supervisor, [spec("a")], name="workers")
    assert node.whereis("workers") == sup
    assert list(await pids(node.resolve("workers"))) == ["a"]


# -- normal / shutdown / abnormal termination, per restart type ---------------------------------

REASONS: dict[str, Any] = {
    "normal": "normal",
    "shutdown": "shutdown",
    "shutdown_with_term": ("shutdown", "bye"),
    "crash": "crash",
    "kill": "kill",
}


async def end_child(node: Node, pid: Pid[Any], how: str) -> None:
    if how == "crash":
        pid.cast("crash")
    elif how == "kill":
        node.exit(pid, "kill")
    else:
        pid.cast(("stop", REASONS[how]))


@pytest.mark.parametrize("how", list(REASONS))
@pytest.mark.parametrize(
    ("restart", "comes_back_after"),
    [
        (Restart.PERMANENT, set(REASONS)),
        (Restart.TRANSIENT, {"crash", "kill"}),
        (Restart.TEMPORARY, set()),
    ],
)
async def test_the_restart_type_decides_whether_an_exited_child_comes_back(
    node: Node,
    watcher: Probe,
    restart: Restart,
    comes_back_after: set[str],
    how: str,
) -> None:
    sup = await node.start(Supervisor, [spec("c", restart=restart), spec("other")])
    old = (await pids(sup))["c"]
    watch(watcher, old)
    await end_child(node, old, how)
    await down_reason(watcher, old)
    if how in comes_back_after:
        new = await restarted(sup, "c", old)
        assert await new.call("get") == 0
    elif restart is Restart.TEMPORARY:
        assert list(await pids(sup)) == ["other"]  # RST-3: the spec is gone
    else:
        assert (await pids(sup))["c"] is None  # the spec stays, not running
    assert sup.alive


# -- restart strategies -------------------------------------------------------------------------


async def test_one_for_one_restarts_only_the_crashed_child_with_fresh_state(node: Node) -> None:
    sup = await node.start(Supervisor, [spec("a"), spec("b"), spec("c")])
    before = await pids(sup)
    for pid, times in zip(before.values(), (1, 2, 3), strict=True):
        for _ in range(times):
            await pid.call("incr")
    new_b = await crash_and_wait(sup, "b")
    after = await pids(sup)
    assert new_b != before["b"] and not before["b"].alive
    assert await new_b.call("get") == 0
    assert (after["a"], after["c"]) == (before["a"], before["c"])
    assert await after["a"].call("get") == 1
    assert await after["c"].call("get") == 3


async def test_one_for_all_restarts_every_child_stopping_the_others_in_reverse_order(
    node: Node,
) -> None:
    log: Log = []
    children = [spec(t, log, trap=True) for t in "abcd"]
    sup = await node.start(Supervisor, children, strategy=Strategy.ONE_FOR_ALL)
    before = await pids(sup)
    await before["a"].call("incr")
    log.clear()
    await crash_and_wait(sup, "b")
    await wait_until(lambda: len(tags(log, "init")) == 4)
    assert tags(log, "terminate") == ["b", "d", "c", "a"]  # b crashed; the rest in reverse order
    assert tags(log, "init") == ["a", "b", "c", "d"]
    after = await pids(sup)
    assert all(after[t] != before[t] and not before[t].alive for t in "abcd")
    assert await after["a"].call("get") == 0


async def test_rest_for_one_restarts_the_crashed_child_and_those_started_after_it(
    node: Node,
) -> None:
    log: Log = []
    children = [spec(t, log, trap=True) for t in "abcd"]
    sup = await node.start(Supervisor, children, strategy=Strategy.REST_FOR_ONE)
    before = await pids(sup)
    await before["a"].call("incr")
    log.clear()
    await crash_and_wait(sup, "b")
    await wait_until(lambda: len(tags(log, "init")) == 3)
    assert tags(log, "terminate") == ["b", "d", "c"]
    assert tags(log, "init") == ["b", "c", "d"]
    after = await pids(sup)
    assert after["a"] == before["a"]
    assert await after["a"].call("get") == 1
    assert all(after[t] != before[t] for t in "bcd")


@pytest.mark.parametrize("strategy", list(Strategy))
async def test_too_many_restarts_stop_every_child_and_the_supervisor_with_shutdown(
    node: Node, watcher: Probe, strategy: Strategy
) -> None:
    log: Log = []
    children = [spec(t, log, trap=True) for t in "abc"]
    sup = await node.start(Supervisor, children, strategy=strategy, max_restarts=2)
    watch(watcher, sup)
    for _ in range(2):
        await crash_and_wait(sup, "b")
    last = await pids(sup)
    log.clear()
    last["b"].cast("crash")
    assert await down_reason(watcher, sup) == "shutdown"
    assert not any(pid.alive for pid in last.values())
    assert tags(log, "terminate") == ["b", "c", "a"]  # INT-1: all terminated, reverse order
    assert tags(log, "init") == []
    assert len(node) == 1  # only the watcher is left


@pytest.mark.parametrize("strategy", list(Strategy))
async def test_a_child_that_fails_to_restart_is_retried_until_it_starts(
    node: Node, strategy: Strategy
) -> None:
    gate = Gate()
    children = [spec("a"), spec("b", gate=gate), spec("c")]
    sup = await node.start(Supervisor, children, strategy=strategy, max_restarts=10)
    before = await pids(sup)
    gate.fail_next(2)
    # one_for_one: the crashed child itself fails to restart; otherwise a sibling does.
    crashed = "b" if strategy is Strategy.ONE_FOR_ONE else "a"
    before[crashed].cast("crash")
    await wait_until(lambda: gate.remaining_failures == 0)
    after = await wait_until(lambda: _all_running(sup, "abc"))
    assert after["b"] != before["b"]
    assert gate.attempts == 1 + 3
    if strategy is Strategy.ONE_FOR_ONE:
        assert (after["a"], after["c"]) == (before["a"], before["c"])
    else:
        assert all(after[t] != before[t] for t in "abc")
    assert sup.alive


async def _all_running(sup: Pid[Any], ids: Iterable[str]) -> dict[Any, Any] | None:
    children = await pids(sup)
    return children if all(isinstance(children[i], Pid) for i in ids) else None


async def test_a_child_waiting_for_a_retry_shows_as_restarting(node: Node) -> None:
    gate = Gate(hold=True)
    sup = await node.start(Supervisor, [spec("a", gate=gate)], max_restarts=10)
    old = (await pids(sup))["a"]
    gate.fail_next(1)
    old.cast("crash")
    await wait_until(lambda: gate.attempts == 2)  # the supervisor is inside the failing start
    children, counts, deleted = await while_held(
        gate, pids(sup), Supervisor.count_children(sup), Supervisor.delete_child(sup, "a")
    )
    assert children == {"a": "restarting"}
    assert counts == {"specs": 1, "active": 0, "supervisors": 0, "workers": 1}
    assert isinstance(deleted, SupervisorError)
    assert deleted.reason == "restarting"
    await restarted(sup, "a", old)


async def test_a_child_that_can_never_restart_brings_its_supervisor_down(
    node: Node, watcher: Probe
) -> None:
    gate = Gate()
    sup = await node.start(Supervisor, [spec("a", gate=gate), spec("b")], max_restarts=3)
    watch(watcher, sup)
    gate.closed = True
    (await pids(sup))["a"].cast("crash")
    assert await down_reason(watcher, sup) == "shutdown"
    assert gate.attempts == 1 + 3  # hanging_restart_loop: bounded by the intensity
    assert len(node) == 1


async def test_restarts_within_the_intensity_are_counted_on_the_child(node: Node) -> None:
    sup = await node.start(Supervisor, [spec("a")], max_restarts=3, max_seconds=5.0)
    for n in range(1, 4):
        pid = await crash_and_wait(sup, "a")
        assert node.info(pid).restarts == n  # type: ignore[union-attr]
    assert sup.alive


async def test_the_intensity_window_slides(node: Node) -> None:
    sup = await node.start(Supervisor, [spec("a")], max_restarts=1, max_seconds=0.2)
    await crash_and_wait(sup, "a")
    await asyncio.sleep(0.25)
    await crash_and_wait(sup, "a")
    assert sup.alive


async def test_zero_max_restarts_gives_up_at_the_first_exit(
    node: Node, watcher: Probe
) -> None:
    sup = await node.start(Supervisor, [spec("a")], max_restarts=0)
    watch(watcher, sup)
    (await pids(sup))["a"].cast("crash")
    assert await down_reason(watcher, sup) == "shutdown"


@pytest.mark.parametrize("strategy", [Strategy.ONE_FOR_ALL, Strategy.REST_FOR_ONE])
async def test_a_temporary_bystander_is_stopped_and_not_restarted(
    node: Node, watcher: Probe, strategy: Strategy
) -> None:
    children = [spec("perm"), spec("temp", restart=Restart.TEMPORARY), spec("last")]
    sup = await node.start(Supervisor, children, strategy=strategy)
    before = await pids(sup)
    watch(watcher, before["temp"])
    await crash_and_wait(sup, "perm")
    assert await down_reason(watcher, before["temp"]) == "shutdown"
    after = await wait_until(lambda: _all_running(sup, ["perm", "last"]))
    assert list(after) == ["perm", "last"]  # SUP-4: the temporary child's spec is gone


async def test_a_named_child_answers_under_its_name_after_a_restart(node: Node) -> None:
    sup = await node.start(Supervisor, [spec("a", name="counter")])
    first = node.whereis("counter")
    assert first is not None
    await first.call(("stop", "normal"))
    second = await restarted(sup, "a", first)
    assert node.whereis("counter") == second
    assert await node.resolve("counter").call("incr") == 1


# -- sup_stop and shutdown values ---------------------------------------------------------------


async def test_stopping_a_supervisor_stops_children_one_at_a_time_in_reverse_order(
    node: Node,
) -> None:
    log: Log = []
    children = [spec(t, log, trap=True, terminate_delay=0.01) for t in "abc"]
    sup = await node.start(Supervisor, children)
    log.clear()
    assert await node.stop(sup, "shutdown") == "shutdown"
    assert log == [
        ("terminate", "c", "shutdown"),
        ("terminated", "c"),
        ("terminate", "b", "shutdown"),
        ("terminated", "b"),
        ("terminate", "a", "shutdown"),
        ("terminated", "a"),
    ]
    assert len(node) == 0


async def test_brutal_kill_kills_the_child_without_terminate(
    node: Node, watcher: Probe
) -> None:
    log: Log = []
    sup = await node.start(Supervisor, [spec("a", log, trap=True, shutdown=BRUTAL_KILL)])
    child = (await pids(sup))["a"]
    watch(watcher, child)
    await node.stop(sup, "shutdown")
    assert await down_reason(watcher, child) == "killed"
    assert events(log, "terminate") == []


async def test_an_integer_shutdown_lets_a_trapping_child_terminate_with_shutdown(
    node: Node, watcher: Probe
) -> None:
    log: Log = []
    sup = await node.start(Supervisor, [spec("a", log, trap=True, shutdown=1.0)])
    child = (await pids(sup))["a"]
    watch(watcher, child)
    await node.stop(sup, "shutdown")
    assert await down_reason(watcher, child) == "shutdown"
    assert events(log, "terminate") == [("a", "shutdown")]
    assert events(log, "terminated") == [("a",)]


async def test_a_child_that_does_not_trap_exits_dies_with_shutdown_at_once(
    node: Node, watcher: Probe
) -> None:
    log: Log = []
    sup = await node.start(Supervisor, [spec("a", log, shutdown=1.0)])
    child = (await pids(sup))["a"]
    watch(watcher, child)
    await node.stop(sup, "shutdown")
    assert await down_reason(watcher, child) == "shutdown"
    assert events(log, "terminate") == []


async def test_a_trapping_child_that_never_exits_is_killed_after_its_shutdown_time(
    node: Node, watcher: Probe
) -> None:
    log: Log = []
    sup = await node.start(Supervisor, [spec("a", log, trap=True, hang=True, shutdown=0.1)])
    child = (await pids(sup))["a"]
    watch(watcher, child)
    began = time.monotonic()
    await node.stop(sup, "shutdown")
    elapsed = time.monotonic() - began
    assert await down_reason(watcher, child) == "killed"
    assert events(log, "terminate") == [("a", "shutdown")]
    assert events(log, "terminated") == []
    assert 0.1 <= elapsed < 1.0


async def test_an_infinity_shutdown_waits_for_a_slow_child(
    node: Node, watcher: Probe
) -> None:
    log: Log = []
    slow = spec("a", log, trap=True, terminate_delay=0.3, shutdown=INFINITY)
    sup = await node.start(Supervisor, [slow])
    child = (await pids(sup))["a"]
    watch(watcher, child)
    began = time.monotonic()
    await node.stop(sup, "shutdown", timeout=None)
    assert time.monotonic() - began >= 0.3
    assert await down_reason(watcher, child) == "shutdown"
    assert events(log, "terminated") == [("a",)]


async def test_children_with_zero_and_one_second_shutdowns_start_and_stop(
    node: Node, watcher: Probe
) -> None:
    sup = await node.start(Supervisor, [spec("zero", shutdown=0), spec("one", shutdown=1)])
    children = await pids(sup)
    watch(watcher, *children.values())
    await Supervisor.terminate_child(sup, "zero")
    await Supervisor.terminate_child(sup, "one")
    assert await down_reason(watcher, children["zero"]) == "killed"
    assert await down_reason(watcher, children["one"]) == "shutdown"


async def test_ten_thousand_linked_workers_all_stop_with_their_supervisor(node: Node) -> None:
    children = [ChildSpec.for_actor(Worker, id=n) for n in range(10_000)]
    sup = await node.start(Supervisor, children, timeout=30)
    workers = [pid for _id, pid, _t, _d in await Supervisor.which_children(sup)]
    assert len(workers) == 10_000 and len(node) == 10_001
    assert len(node.info(sup).links) == 10_000  # type: ignore[union-attr]
    assert await node.stop(sup, "shutdown", timeout=10) == "shutdown"
    assert not any(pid.alive for pid in workers)
    assert len(node) == 0


async def test_a_supervisor_that_overruns_its_stop_timeout_is_killed(
    node: Node, watcher: Probe
) -> None:
    stuck = spec("a", trap=True, hang=True, shutdown=INFINITY)
    sup = await node.start(Supervisor, [stuck])
    watch(watcher, sup)
    assert await node.stop(sup, "shutdown", timeout=0.1) == "killed"
    assert await down_reason(watcher, sup) == "killed"


async def test_node_shutdown_stops_a_tree_top_down_without_restarting_children(
    node: Node,
) -> None:
    log: Log = []
    children = [spec("a", log, trap=True), spec("b", log), spec("c", log, trap=True)]
    await node.start(Supervisor, children)
    began = time.monotonic()
    await node.shutdown(timeout=2.0)
    assert tags(log, "init") == ["a", "b", "c"]  # SHD-6: nothing is restarted on the way down
    assert tags(log, "terminate") == ["c", "a"]
    assert time.monotonic() - began < 1.0
    assert len(node) == 0


async def test_a_supervisor_that_times_out_starting_leaves_no_process_behind(node: Node) -> None:
    class Stuck(Actor):
        async def init(self) -> None:
            await asyncio.sleep(10)

    children = [spec("a"), ChildSpec.for_actor(Stuck, id="stuck")]
    with pytest.raises(StartError):
        await node.start(Supervisor, children, timeout=0.2)
    await asyncio.sleep(0.05)
    assert [info.actor for info in node.processes()] == []


# -- escalation and nested supervisors ----------------------------------------------------------


def inner_spec(log: Log, **options: Any) -> ChildSpec:
    return ChildSpec.for_actor(Supervisor, [spec("w", log)], id="inner", max_restarts=0, **options)


async def test_a_child_supervisor_that_gives_up_is_restarted_by_its_parent(
    node: Node, watcher: Probe
) -> None:
    log: Log = []
    outer = await node.start(Supervisor, [spec("sibling"), inner_spec(log)])
    before = await pids(outer)
    inner = before["inner"]
    watch(watcher, inner)
    (await pids(inner))["w"].cast("crash")
    assert await down_reason(watcher, inner) == "shutdown"  # INT-1 in the child supervisor
    new_inner = await restarted(outer, "inner", inner)  # INT-3: the parent applies its own spec
    assert isinstance((await pids(new_inner))["w"], Pid)
    assert (await pids(outer))["sibling"] == before["sibling"]
    assert tags(log, "init") == ["w", "w"]


async def test_a_transient_child_supervisor_that_gives_up_stays_down(
    node: Node, watcher: Probe
) -> None:
    outer = await node.start(Supervisor, [inner_spec([], restart=Restart.TRANSIENT)])
    inner = (await pids(outer))["inner"]
    watch(watcher, inner)
    (await pids(inner))["w"].cast("crash")
    assert await down_reason(watcher, inner) == "shutdown"
    assert await pids(outer) == {"inner": None}  # INT-5: shutdown is not abnormal


async def test_repeated_failure_below_climbs_to_the_top_supervisor(
    node: Node, watcher: Probe
) -> None:
    outer = await node.start(Supervisor, [inner_spec([])], max_restarts=1)
    watch(watcher, outer)
    inner = (await pids(outer))["inner"]
    (await pids(inner))["w"].cast("crash")
    inner = await restarted(outer, "inner", inner)
    (await pids(inner))["w"].cast("crash")
    assert await down_reason(watcher, outer) == "shutdown"
    assert len(node) == 1


async def test_a_nested_tree_restarts_whole_branches_under_one_for_all(node: Node) -> None:
    branch_one = ChildSpec.for_actor(Supervisor, [spec("w1"), spec("w2")], id="one", max_restarts=0)
    branch_two = ChildSpec.for_actor(Supervisor, [spec("w3"), spec("w4")], id="two")
    top = await node.start(Supervisor, [branch_one, branch_two], strategy=Strategy.ONE_FOR_ALL)
    before = await pids(top)
    two_workers = await pids(before["two"])
    (await pids(before["one"]))["w1"].cast("crash")
    after = await restarted(top, "two", before["two"])
    assert not before["one"].alive and not before["two"].alive
    assert not any(pid.alive for pid in two_workers.values())
    new_two_workers = await pids(after)
    assert set(new_two_workers) == {"w3", "w4"}
    assert all(isinstance(p, Pid) and p.alive for p in new_two_workers.values())


async def test_stopping_a_tree_stops_the_deepest_children_before_their_parents(
    node: Node,
) -> None:
    log: Log = []
    branch = ChildSpec.for_actor(
        Supervisor, [spec("b1", log, trap=True), spec("b2", log, trap=True)], id="branch"
    )
    children = [spec("a", log, trap=True), branch, spec("c", log, trap=True)]
    top = await node.start(Supervisor, children)
    assert tags(log, "init") == ["a", "b1", "b2", "c"]
    await node.stop(top, "shutdown")
    assert tags(log, "terminate") == ["c", "b2", "b1", "a"]
    assert len(node) == 0


# -- child administration (child_adm, count_children, Elixir 11-16) ----------------------------


async def test_a_child_goes_through_its_whole_life_cycle(node: Node) -> None:
    sup = await node.start(Supervisor, [])
    assert await Supervisor.which_children(sup) == []
    assert await Supervisor.count_children(sup) == {
        "specs": 0,
        "active": 0,
        "supervisors": 0,
        "workers": 0,
    }
    first = await Supervisor.start_child(sup, spec("a"))
    assert isinstance(first, Pid) and first.alive
    assert (await Supervisor.count_children(sup))["active"] == 1

    with pytest.raises(SupervisorError) as caught:
        await Supervisor.delete_child(sup, "a")
    assert caught.value.reason == "running"

    await Supervisor.terminate_child(sup, "a")
    assert not first.alive
    assert await pids(sup) == {"a": None}
    assert await Supervisor.count_children(sup) == {
        "specs": 1,
        "active": 0,
        "supervisors": 0,
        "workers": 1,
    }

    second = await Supervisor.restart_child(sup, "a")
    assert isinstance(second, Pid) and second != first and second.alive
    with pytest.raises(SupervisorError) as caught:
        await Supervisor.restart_child(sup, "a")
    assert caught.value.reason == "running"

    await Supervisor.terminate_child(sup, "a")
    await Supervisor.delete_child(sup, "a")
    assert await Supervisor.which_children(sup) == []
    for op in (Supervisor.terminate_child, Supervisor.restart_child, Supervisor.delete_child):
        with pytest.raises(SupervisorError) as caught:
            await op(sup, "a")
        assert caught.value.reason == "not_found"


async def test_starting_a_child_with_a_taken_id_is_refused(node: Node) -> None:
    sup = await node.start(Supervisor, [spec("a"), spec("b")])
    running = (await pids(sup))["a"]
    with pytest.raises(SupervisorError) as caught:
        await Supervisor.start_child(sup, spec("a"))
    assert caught.value.reason == ("already_started", running)
    await Supervisor.terminate_child(sup, "b")
    with pytest.raises(SupervisorError) as caught:
        await Supervisor.start_child(sup, spec("b"))
    assert caught.value.reason == "already_present"


async def test_a_child_that_fails_to_start_at_runtime_is_not_added(node: Node) -> None:
    sup = await node.start(Supervisor, [spec("a")])
    with pytest.raises(SupervisorError) as caught:
        await Supervisor.start_child(sup, spec("b", init_result=Stop("nope")))
    assert caught.value.reason == "nope"
    assert list(await pids(sup)) == ["a"]
    assert sup.alive


async def test_a_child_added_at_runtime_that_ignores_keeps_its_spec(node: Node) -> None:
    sup = await node.start(Supervisor, [])
    assert await Supervisor.start_child(sup, spec("quiet", init_result=Ignore())) is None
    assert await pids(sup) == {"quiet": None}


async def test_terminating_a_temporary_child_forgets_its_spec(node: Node) -> None:
    sup = await node.start(Supervisor, [spec("t", restart=Restart.TEMPORARY), spec("p")])
    await Supervisor.terminate_child(sup, "t")
    assert list(await pids(sup)) == ["p"]


async def test_a_terminated_child_is_not_restarted_by_the_supervisor(node: Node) -> None:
    sup = await node.start(Supervisor, [spec("a")])
    await Supervisor.terminate_child(sup, "a")
    await asyncio.sleep(0.01)
    assert await pids(sup) == {"a": None}


async def test_restart_child_reports_a_start_failure(node: Node) -> None:
    gate = Gate()
    sup = await node.start(Supervisor, [spec("a", gate=gate)])
    await Supervisor.terminate_child(sup, "a")
    gate.closed = True
    with pytest.raises(SupervisorError) as caught:
        await Supervisor.restart_child(sup, "a")
    assert isinstance(caught.value.reason, RuntimeError)
    assert await pids(sup) == {"a": None}
    assert sup.alive


async def test_a_child_added_at_runtime_is_stopped_first_and_restarted_by_strategy(
    node: Node,
) -> None:
    log: Log = []
    sup = await node.start(Supervisor, [spec("a", log, trap=True)], strategy=Strategy.ONE_FOR_ALL)
    await Supervisor.start_child(sup, spec("b", log, trap=True))
    log.clear()
    await crash_and_wait(sup, "a")
    await wait_until(lambda: len(tags(log, "init")) == 2)
    assert tags(log, "init") == ["a", "b"]
    log.clear()
    await node.stop(sup, "shutdown")
    assert tags(log, "terminate") == ["b", "a"]


async def test_count_children_tells_workers_from_supervisors(node: Node) -> None:
    children = [
        spec("a"),
        spec("quiet", init_result=Ignore()),
        ChildSpec.for_actor(Supervisor, [spec("x")], id="sub"),
    ]
    sup = await node.start(Supervisor, children)
    assert await Supervisor.count_children(sup) == {
        "specs": 3,
        "active": 2,
        "supervisors": 1,
        "workers": 2,
    }


async def test_a_supervisor_spec_type_can_be_given_for_a_custom_start(node: Node) -> None:
    async def start(node: Node, parent: Pid[Any]) -> Pid[Any]:
        return await node.start_link(Supervisor, [], link_to=parent, parent=parent)

    sup = await node.start(Supervisor, [ChildSpec(id="s", start=start, type=ChildType.SUPERVISOR)])
    assert (await Supervisor.count_children(sup))["supervisors"] == 1
