"""Application: the root tree of a node (APP-1, APP-3, INT-3, SHD-6)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bitnexus.actors import Node, Pid
from bitnexus.actors.testing import Probe
from bitnexus.exceptions import Misuse, StartError
from bitnexus.supervision import INFINITY, Application, ChildSpec, Strategy, Supervisor

from ._workers import Gate, Log, Worker, down_reason, tags, watch


def spec(tag: str, log: Log | None = None, **options: Any) -> ChildSpec:
    return ChildSpec.for_actor(Worker, tag, log, id=tag, **options)


def branch(cid: str, *children: ChildSpec, **options: Any) -> ChildSpec:
    return ChildSpec.for_actor(Supervisor, list(children), id=cid, **options)


async def child_pids(sup: Pid[Any]) -> dict[Any, Any]:
    return {cid: pid for cid, pid, _t, _d in await Supervisor.which_children(sup)}


async def test_start_returns_the_root_supervisor_registered_under_the_name(node: Node) -> None:
    app = Application([spec("a")], node=node, name="shop")
    root = await app.start()
    assert app.running
    assert node.whereis("shop") == root
    assert node.info(root).kind == "supervisor"  # type: ignore[union-attr]
    assert list(await child_pids(root)) == ["a"]
    await app.stop()
    assert not app.running


async def test_the_root_supervisor_uses_the_given_strategy_and_intensity(node: Node) -> None:
    app = Application([], node=node, strategy=Strategy.ONE_FOR_ALL, max_restarts=7, max_seconds=2)
    root = await app.start()
    summary = node.info(root).summary  # type: ignore[union-attr]
    assert (summary["strategy"], summary["max_restarts"], summary["max_seconds"]) == (
        "one_for_all",
        7,
        2,
    )
    await app.stop()


async def test_an_application_makes_its_own_node_when_given_none() -> None:
    app = Application([spec("a")])
    await app.start()
    assert len(app.node) == 2
    await app.stop()
    assert len(app.node) == 0


async def test_starting_twice_is_a_misuse(node: Node) -> None:
    app = Application([], node=node)
    await app.start()
    with pytest.raises(Misuse, match="already started"):
        await app.start()
    await app.stop()


async def test_waiting_for_or_stopping_an_application_never_started(node: Node) -> None:
    app = Application([spec("a")], node=node)
    with pytest.raises(Misuse, match="never started"):
        await app.wait_stopped()
    await app.stop()  # nothing to do
    assert not app.running and len(node) == 0


async def test_children_start_in_order_and_stop_in_reverse_order_through_the_tree(
    node: Node,
) -> None:
    log: Log = []
    children = [
        spec("a", log, trap=True),
        branch("sub", spec("b1", log, trap=True), spec("b2", log, trap=True)),
        spec("c", log, trap=True),
    ]
    app = Application(children, node=node)
    await app.start()
    assert tags(log, "init") == ["a", "b1", "b2", "c"]
    await app.stop()
    assert tags(log, "terminate") == ["c", "b2", "b1", "a"]
    assert await app.wait_stopped() == "shutdown"
    assert len(node) == 0


@pytest.mark.parametrize("nested", [False, True])
async def test_stop_kills_a_child_that_ignores_shutdown_once_the_timeout_is_up(
    node: Node, watcher: Probe, nested: bool
) -> None:
    log: Log = []
    stubborn = spec("stubborn", log, trap=True, hang=True, shutdown=INFINITY)
    polite = spec("polite", log, trap=True)
    children = [branch("sub", stubborn), polite] if nested else [stubborn, polite]
    app = Application(children, node=node, shutdown_timeout=0.3)
    root = await app.start()
    top = await child_pids(root)
    stubborn_pid = (await child_pids(top["sub"]))["stubborn"] if nested else top["stubborn"]
    watch(watcher, stubborn_pid)
    began = time.monotonic()
    await app.stop()
    elapsed = time.monotonic() - began
    assert 0.3 <= elapsed < 1.5
    assert await down_reason(watcher, stubborn_pid) == "killed"
    assert tags(log, "terminate") == ["polite", "stubborn"]  # reverse order until it hung
    assert tags(log, "terminated") == ["polite"]
    assert len(node) == 1  # only the watcher is left
    assert not app.running


async def test_escalation_that_reaches_the_top_stops_the_application(
    node: Node, watcher: Probe
) -> None:
    fragile = branch("fragile", spec("w"), max_restarts=0)
    app = Application([fragile, spec("other")], node=node, max_restarts=1)
    root = await app.start()
    inner = (await child_pids(root))["fragile"]
    watch(watcher, inner)
    (await child_pids(inner))["w"].cast("crash")
    await down_reason(watcher, inner)
    assert app.running  # the first escalation is absorbed by a restart
    inner = (await child_pids(root))["fragile"]
    (await child_pids(inner))["w"].cast("crash")
    assert await app.wait_stopped() == "shutdown"
    assert app.exit_reason == "shutdown"
    assert not app.running
    assert len(node) == 1
    await app.stop()  # stopping a tree that already died is harmless


async def test_a_child_failing_to_start_fails_the_application_start(node: Node) -> None:
    gate = Gate(closed=True)
    app = Application([spec("a"), spec("db", gate=gate)], node=node)
    with pytest.raises(StartError) as caught:
        await app.start()
    assert caught.value.reason[1][:2] == ("failed_to_start_child", "db")
    assert not app.running and len(node) == 0
    with pytest.raises(Misuse, match="never started"):
        await app.wait_stopped()
    gate.closed = False
    await app.start()  # a fixed dependency lets it start after all
    assert app.running
    await app.stop()


async def test_the_application_is_an_async_context_manager(node: Node) -> None:
    log: Log = []
    async with Application([spec("a", log, trap=True)], node=node) as app:
        assert app.running
        assert tags(log, "init") == ["a"]
    assert not app.running
    assert tags(log, "terminate") == ["a"]
    assert len(node) == 0
