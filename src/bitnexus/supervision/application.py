"""The :class:`Application`: the root supervision tree of a node.

It starts a root :class:`~bitnexus.supervision.Supervisor` with the given
children, stops it top-down in reverse order with a bounded time (APP-3), and
tells you when the tree died on its own (escalation reached the top, INT-3).

Example::

    app = Application([ChildSpec.for_actor(PubSubServer, id="pubsub")], node=node)
    await app.start()
    ...
    await app.stop()        # SIGTERM handler in `bitnexus serve` calls this
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from bitnexus.actors import KILL, SHUTDOWN, Node, Pid
from bitnexus.exceptions import Misuse
from bitnexus.supervision.spec import ChildSpec, Strategy
from bitnexus.supervision.supervisor import Supervisor

__all__ = ["Application"]

_log = logging.getLogger("bitnexus.supervision")


class Application:
    """Owns the root supervisor of one node.

    Args:
        children: the top-level child specs, started in order.
        node: the node to run on (a new one by default).
        name: the root supervisor's registered name.
        shutdown_timeout: seconds ``stop`` waits before killing what is left.
    """

    def __init__(
        self,
        children: Sequence[ChildSpec],
        *,
        node: Node | None = None,
        name: str = "bitnexus",
        strategy: Strategy | str = Strategy.ONE_FOR_ONE,
        max_restarts: int = 3,
        max_seconds: float = 5.0,
        shutdown_timeout: float = 15.0,
    ) -> None:
        self.node = node if node is not None else Node()
        self.name = name
        self._children = list(children)
        self._options = {
            "strategy": Strategy(strategy),
            "max_restarts": max_restarts,
            "max_seconds": max_seconds,
        }
        self.shutdown_timeout = shutdown_timeout
        self.root: Pid[Any] | None = None
        self.exit_reason: Any = None
        self._stopped: asyncio.Event | None = None
        self._stopping = False

    async def start(self) -> Pid[Any]:
        """Start the tree; returns the root supervisor's pid.

        Raises:
            StartError: a child failed to start; everything started was stopped.
            Misuse: already started.
        """
        if self.root is not None:
            raise Misuse(f"application {self.name!r} is already started")
        self._stopped = asyncio.Event()
        try:
            root = await self.node.start(
                Supervisor, self._children, name=self.name, **self._options
            )
        except BaseException:
            self._stopped = None
            raise
        self.root = root
        proc = root._proc
        assert proc is not None
        proc.wait_exit().add_done_callback(self._on_root_exit)
        _log.info("application %s started (%d children)", self.name, len(self._children))
        return root

    def _on_root_exit(self, fut: asyncio.Future[Any]) -> None:
        self.exit_reason = fut.result()
        if not self._stopping:
            _log.error("application %s: root supervisor exited: %r", self.name, self.exit_reason)
        assert self._stopped is not None
        self._stopped.set()

    @property
    def running(self) -> bool:
        """True while the root supervisor is alive."""
        return self.root is not None and self.root.alive

    async def wait_stopped(self) -> Any:
        """Wait until the root supervisor exits; returns its reason."""
        if self._stopped is None:
            raise Misuse(f"application {self.name!r} was never started")
        await self._stopped.wait()
        return self.exit_reason

    async def stop(self) -> None:
        """Stop the whole tree top-down, reverse start order, within
        ``shutdown_timeout``; what is still alive after that is killed."""
        root = self.root
        if root is None or not root.alive:
            return
        self._stopping = True
        reason = await self.node.stop(root, SHUTDOWN, timeout=self.shutdown_timeout)
        # Killing the root does not reach a child that was being shut down:
        # its supervisor had already unlinked it, so it would outlive the
        # tree. Kill whatever still descends from the root.
        leftovers = _descendants(self.node, root)
        for pid in leftovers:
            self.node.exit(pid, KILL)
        if leftovers:
            await asyncio.gather(*(self.node.wait_exit(pid) for pid in leftovers))
            _log.warning("application %s: killed %d processes at stop", self.name, len(leftovers))
        _log.info("application %s stopped (%r)", self.name, reason)

    async def __aenter__(self) -> Application:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


def _descendants(node: Node, root: Pid[Any]) -> list[Pid[Any]]:
    """Live processes whose chain of parents leads to ``root``, top down."""
    children: dict[Pid[Any] | None, list[Pid[Any]]] = {}
    for info in node.processes():
        children.setdefault(info.parent, []).append(info.pid)
    found: list[Pid[Any]] = []
    frontier = [root]
    while frontier:
        below = [pid for parent in frontier for pid in children.get(parent, ())]
        found.extend(below)
        frontier = below
    return found
