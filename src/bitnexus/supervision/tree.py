"""The supervision tree as immutable snapshots, for the admin API and CLI.

Example::

    for root in supervision_tree(node):
        print(root.info.pid, len(root.children))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bitnexus.actors import Node, Pid, ProcessInfo

__all__ = ["TreeNode", "supervision_tree"]


@dataclass(frozen=True, slots=True)
class TreeNode:
    """One process and the processes it owns (its children in the tree)."""

    info: ProcessInfo
    children: tuple[TreeNode, ...]


def supervision_tree(node: Node, infos: list[ProcessInfo] | None = None) -> list[TreeNode]:
    """Build the forest of live processes from their parent links.

    A process whose parent is gone or unknown is a root.
    """
    infos = node.processes() if infos is None else infos
    by_parent: dict[Pid[Any] | None, list[ProcessInfo]] = {}
    alive = {info.pid for info in infos}
    for info in infos:
        parent = info.parent if info.parent in alive else None
        by_parent.setdefault(parent, []).append(info)

    def build(info: ProcessInfo) -> TreeNode:
        return TreeNode(info, tuple(build(c) for c in by_parent.get(info.pid, ())))

    return [build(info) for info in by_parent.get(None, ())]
