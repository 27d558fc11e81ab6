from __future__ import annotations

import time

import pytest

from bitnexus.actors import Node
from bitnexus.admin.actions import (
    ActionRefused,
    exit_process,
    kill,
    parse_reason,
    restart_child,
)
from bitnexus.supervision import ChildSpec, DynamicSupervisor, Restart, Strategy, Supervisor

from .support import Counter, Watcher


async def test_kill_reports_the_pid_the_supervisor_restarted_it_as(node: Node) -> None:
    await node.start(
        Supervisor,
        [ChildSpec.for_actor(Counter, id="a", name="a"), ChildSpec.for_actor(Counter, id="b")],
    )
    old = node.whereis("a")
    result = await kill(node, old)
    assert result["exited"] is True
    assert result["exit_reason"] == "killed"
    assert result["replacement"] == str(node.whereis("a"))
    assert node.info(node.whereis("a")).restarts == 1  # type: ignore[union-attr]


async def test_one_for_all_reports_the_replacement_of_the_killed_child(node: Node) -> None:
    await node.start(
        Supervisor,
        [ChildSpec.for_actor(Counter, id="a", name="a"), ChildSpec.for_actor(Counter, id="b")],
        strategy=Strategy.ONE_FOR_ALL,
    )
    result = await kill(node, node.whereis("a"))
    assert result["replacement"] == str(node.whereis("a"))


async def test_killing_a_process_without_supervisor_has_no_replacement(node: Node) -> None:
    pid = await node.start(Counter)
    result = await kill(node, pid)
    assert (result["exited"], result["replacement"]) == (True, None)
    with pytest.raises(ActionRefused) as refused:
        await kill(node, pid)
    assert refused.value.status == 404


async def test_a_trapping_process_may_ignore_an_exit_signal(node: Node) -> None:
    other = await node.start(Counter)
    trapper = await node.start(Watcher, other, other)
    started = time.monotonic()
    result = await exit_process(node, trapper, "please")
    assert time.monotonic() - started < 1.5
    assert result["exited"] is False
    assert trapper.alive
    assert (await kill(node, trapper))["exit_reason"] == "killed"


async def test_restart_child_by_pid_needs_force_while_it_runs(node: Node) -> None:
    sup = await node.start(
        Supervisor, [ChildSpec.for_actor(Counter, id=("tuple", 1), restart=Restart.TRANSIENT)]
    )
    [(_cid, pid, _type, _desc)] = await Supervisor.which_children(sup)
    with pytest.raises(ActionRefused) as refused:
        await restart_child(node, sup, child_pid=pid)
    assert refused.value.status == 409
    result = await restart_child(node, sup, child_pid=pid, force=True)
    assert result["id"] == "('tuple', 1)"
    assert result["pid"] != str(pid)
    await Supervisor.terminate_child(sup, ("tuple", 1))
    result = await restart_child(node, sup, child_id="('tuple', 1)")
    [(_cid, new, _type, _desc)] = await Supervisor.which_children(sup)
    assert result["pid"] == str(new)


async def test_restart_child_refuses_what_is_not_a_static_supervisor(node: Node) -> None:
    dynamic = await node.start(DynamicSupervisor)
    worker = await node.start(Counter)
    for target, status in ((dynamic, 422), (worker, 422)):
        with pytest.raises(ActionRefused) as refused:
            await restart_child(node, target, child_id="x")
        assert refused.value.status == status
    await node.stop(worker)
    with pytest.raises(ActionRefused) as refused:
        await restart_child(node, worker, child_id="x")
    assert refused.value.status == 404


def test_parse_reason_accepts_strings_and_shutdown_pairs_only() -> None:
    assert parse_reason("normal") == "normal"
    assert parse_reason(["shutdown", "maintenance"]) == ("shutdown", "maintenance")
    for bad in (None, "", 3, ["boom", "x"], ["shutdown"], {"a": 1}, "x" * 201):
        with pytest.raises(ActionRefused) as refused:
            parse_reason(bad)
        assert refused.value.status == 422
