"""The runtime counters and supervisor history the admin views read."""

from __future__ import annotations

import asyncio
from typing import Any

from bitnexus.actors import Node
from bitnexus.supervision import ChildSpec, DynamicSupervisor, Restart, Supervisor
from bitnexus.supervision._children import HISTORY_SIZE

from .support import Counter, wait_until


def sup_actor(pid: Any) -> Any:
    return pid._proc.actor


async def crash(node: Node, name: str) -> Any:
    """Crash the named worker and return its replacement's pid."""
    old = node.whereis(name)
    assert old is not None
    old.cast("crash")
    await wait_until(lambda: node.whereis(name) not in (None, old))
    return node.whereis(name)


async def test_a_supervisor_remembers_its_childs_crashes_with_tracebacks(node: Node) -> None:
    sup = await node.start(
        Supervisor, [ChildSpec.for_actor(Counter, id="c", name="c")], max_restarts=50
    )
    first = node.whereis("c")
    assert sup_actor(sup).child_history(first) == {
        "id": "c",
        "restart_count": 0,
        "restarts": [],
        "last_crash": None,
    }
    new = await crash(node, "c")
    history = sup_actor(sup).child_history(new)
    assert history["restart_count"] == 1
    [entry] = history["restarts"]
    assert entry["pid"] == str(first)
    assert entry["reason"] == "RuntimeError('boom: crashed on purpose')"
    assert entry["crash"] is True
    assert "RuntimeError: boom: crashed on purpose" in entry["traceback"]
    assert history["last_crash"] == entry
    # A kill is a crash too (reason "killed"), without a traceback.
    node.exit(new, "kill")
    await wait_until(lambda: node.whereis("c") not in (None, new))
    history = sup_actor(sup).child_history(node.whereis("c"))
    assert history["restarts"][-1]["reason"] == "'killed'"
    assert history["restarts"][-1]["traceback"] is None
    assert history["last_crash"]["reason"] == "'killed'"


async def test_history_is_bounded(node: Node) -> None:
    sup = await node.start(
        Supervisor, [ChildSpec.for_actor(Counter, id="c", name="c")], max_restarts=100
    )
    for _ in range(HISTORY_SIZE + 5):
        await crash(node, "c")
    history = sup_actor(sup).child_history(node.whereis("c"))
    assert len(history["restarts"]) == HISTORY_SIZE
    assert history["restart_count"] == HISTORY_SIZE + 5


async def test_a_normal_exit_is_recorded_but_is_not_a_crash(node: Node) -> None:
    spec = ChildSpec.for_actor(Counter, id="t", name="t", restart=Restart.TRANSIENT)
    crashy = ChildSpec.for_actor(Counter, id="p", name="p")
    sup = await node.start(Supervisor, [spec, crashy])
    pid = node.whereis("t")
    await node.stop(pid, "normal")
    await asyncio.sleep(0.01)
    await Supervisor.restart_child(sup, "t")
    history = sup_actor(sup).child_history(node.whereis("t"))
    assert [e["crash"] for e in history["restarts"]] == [False]
    assert history["last_crash"] is None


async def test_a_dynamic_supervisor_keeps_history_per_child(node: Node) -> None:
    sup = await node.start(DynamicSupervisor, max_restarts=10)
    pid = await DynamicSupervisor.start_child(sup, ChildSpec.for_actor(Counter, id="d"))
    pid.cast("crash")
    await wait_until(
        lambda: len(sup_actor(sup).children) == 1 and pid not in sup_actor(sup).children
    )
    [new] = sup_actor(sup).children
    history = sup_actor(sup).child_history(new)
    assert history["restart_count"] == 1
    assert history["last_crash"]["pid"] == str(pid)
    assert sup_actor(sup).child_history(sup) == {"restarts": [], "last_crash": None}


async def test_node_counts_restarts_and_the_messages_of_dead_processes(node: Node) -> None:
    await node.start(Supervisor, [ChildSpec.for_actor(Counter, id="c", name="c")], max_restarts=50)
    before = node.handled_by_dead
    pid = node.whereis("c")
    for _ in range(10):
        pid.cast("tick")
    await asyncio.sleep(0.01)
    await crash(node, "c")
    await crash(node, "c")
    assert node.restarts_total == 2
    # The ten ticks stay counted after the process that handled them died.
    assert node.handled_by_dead - before >= 10
