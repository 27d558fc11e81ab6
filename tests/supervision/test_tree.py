"""supervision_tree: the live process forest as immutable snapshots."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from bitnexus.actors import Actor, Node, Pid
from bitnexus.supervision import ChildSpec, Supervisor, TreeNode, supervision_tree

from ._workers import Worker, wait_until


def spec(tag: str, **options: Any) -> ChildSpec:
    return ChildSpec.for_actor(Worker, tag, id=tag, **options)


def shape(tree: TreeNode) -> tuple[Any, ...]:
    """(name or actor class name, children shapes) for easy comparison."""
    label = tree.info.name or tree.info.actor.rsplit(".", 1)[-1]
    return (label, [shape(child) for child in tree.children])


async def test_children_are_nested_under_their_supervisors_in_start_order(node: Node) -> None:
    branch = ChildSpec.for_actor(
        Supervisor, [spec("b1", name="b1"), spec("b2", name="b2")], id="branch", name="branch"
    )
    await node.start(Supervisor, [spec("a", name="a"), branch, spec("c", name="c")], name="top")
    forest = supervision_tree(node)
    assert [shape(root) for root in forest] == [
        ("top", [("a", []), ("branch", [("b1", []), ("b2", [])]), ("c", [])])
    ]
    top = forest[0]
    assert top.info.kind == "supervisor"
    assert [child.info.kind for child in top.children] == ["worker", "supervisor", "worker"]
    assert all(child.info.parent == top.info.pid for child in top.children)


async def test_processes_without_a_parent_are_separate_roots(node: Node) -> None:
    class Loner(Actor):
        pass

    sup = await node.start(Supervisor, [spec("a")])
    loner = await node.start(Loner)
    roots = supervision_tree(node)
    assert [root.info.pid for root in roots] == [sup, loner]
    assert roots[1].children == ()


async def test_a_restarted_child_appears_under_its_supervisor_with_its_restart_count(
    node: Node,
) -> None:
    sup = await node.start(Supervisor, [spec("a", name="a")])
    old = node.whereis("a")
    assert old is not None
    old.cast("crash")
    new = await wait_until(lambda: (p := node.whereis("a")) is not None and p != old and p)
    (root,) = supervision_tree(node)
    (child,) = root.children
    assert root.info.pid == sup
    assert child.info.pid == new
    assert child.info.restarts == 1


async def test_a_process_whose_parent_is_gone_becomes_a_root(node: Node) -> None:
    class Owner(Actor):
        pass

    owner = await node.start(Owner)
    orphan = await node.start(Worker, parent=owner)
    assert [shape(root) for root in supervision_tree(node)] == [("Owner", [("Worker", [])])]
    await node.stop(owner)
    (root,) = supervision_tree(node)
    assert root.info.pid == orphan
    assert root.info.parent == owner  # the info still names the dead parent


async def test_the_tree_can_be_built_from_a_given_snapshot(node: Node) -> None:
    sup = await node.start(Supervisor, [spec("a")])
    snapshot = node.processes()
    await node.stop(sup, "shutdown")
    assert len(node) == 0
    (root,) = supervision_tree(node, snapshot)
    assert root.info.pid == sup and len(root.children) == 1
    assert supervision_tree(node) == []


async def test_tree_nodes_are_immutable(node: Node) -> None:
    await node.start(Supervisor, [])
    (root,) = supervision_tree(node)
    with pytest.raises(dataclasses.FrozenInstanceError):
        root.children = ()  # type: ignore[misc]
    assert isinstance(root.info.pid, Pid)
