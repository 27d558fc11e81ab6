"""Test helpers for code that talks to processes: a :class:`Probe` process.

A probe is a real process, like the test pid in ExUnit: it can be linked,
monitored, sent messages and used as a ``watcher``. Every message that reaches
its ``handle_info`` (raw sends, ``Down``, trapped ``Exit``, ``Timeout``) is
queued for the test, which takes them out with a selective :meth:`Probe.receive`.

Example::

    from bitnexus.actors import Down, Node
    from bitnexus.actors.testing import Probe

    async def test_worker_reports_back():
        node = Node()
        probe = await Probe.start(node, trap_exit=True)
        worker = node.spawn(Worker, reply_to=probe.pid)
        ref = probe.monitor(worker)
        assert await probe.receive() == ("ready", worker)
        down = await probe.receive(match=lambda m: isinstance(m, Down) and m.ref == ref)
        assert down.reason == "normal"
        await probe.refute_receive(timeout=0.05)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Any

from bitnexus.actors.actor import Actor
from bitnexus.actors.node import Node
from bitnexus.actors.pid import Pid, Ref

__all__ = ["Probe"]

Matcher = Callable[[Any], bool] | type | None


class _ProbeActor(Actor):
    kind = "probe"

    def __init__(self, probe: Probe) -> None:
        self._probe = probe

    async def handle_info(self, message: Any) -> None:
        # Synchronous on purpose: the probe stays on the runtime's fast path.
        self._probe._deliver(message)

    def summary(self) -> Any:
        return {"queued": len(self._probe.queued)}


class Probe:
    """A process whose messages are checked by a test.

    ``Probe(node)`` spawns it at once; ``await Probe.start(node)`` also waits
    for it to be running. Either way messages sent to :attr:`pid` are kept in
    arrival order until :meth:`receive` takes them.

    Args:
        node: the node to spawn on.
        trap_exit: trap exits, so link signals arrive as ``Exit`` messages
            instead of killing the probe.
        name: an optional unique name to register.

    Attributes:
        pid: the probe's pid.
        received: every message the probe got, in arrival order, including
            the ones :meth:`receive` already took.
    """

    def __init__(
        self, node: Node, *, trap_exit: bool = False, name: Hashable | None = None
    ) -> None:
        self._setup(node)
        self.pid: Pid[Any] = node.spawn(_ProbeActor(self), name=name, trap_exit=trap_exit)

    @classmethod
    async def start(
        cls, node: Node, *, trap_exit: bool = False, name: Hashable | None = None
    ) -> Probe:
        """Spawn a probe and wait until it runs.

        Example::

            probe = await Probe.start(node, trap_exit=True)
        """
        probe = cls.__new__(cls)
        probe._setup(node)
        probe.pid = await node.start(_ProbeActor(probe), name=name, trap_exit=trap_exit)
        return probe

    def _setup(self, node: Node) -> None:
        self.node = node
        self.received: list[Any] = []
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._pending: list[Any] = []  # pulled off the queue, not matched yet

    def _deliver(self, message: Any) -> None:
        self.received.append(message)
        self._queue.put_nowait(message)

    def _pull(self) -> None:
        queue = self._queue
        while not queue.empty():
            self._pending.append(queue.get_nowait())

    @property
    def queued(self) -> list[Any]:
        """Messages received and not yet taken by :meth:`receive`, oldest first."""
        self._pull()
        return list(self._pending)

    def _take(self, match: Matcher) -> tuple[bool, Any]:
        self._pull()
        for i, message in enumerate(self._pending):
            if _matches(match, message):
                del self._pending[i]
                return True, message
        return False, None

    async def receive(self, timeout: float = 1.0, match: Matcher = None) -> Any:
        """Take the oldest queued message that matches, waiting up to ``timeout`` s.

        Messages that do not match stay queued, in order (selective receive).

        Args:
            timeout: seconds to wait for a matching message.
            match: a predicate ``fn(message) -> bool``, a class (isinstance
                check), or None for any message. A predicate that raises on
                a message (``m[0]`` on a ``Down``) does not match it, like a
                pattern of another shape.

        Raises:
            AssertionError: nothing matched in time; the message lists what
                is queued.

        Example::

            down = await probe.receive(match=Down)
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found, message = self._take(match)
            if found:
                return message
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                message = await asyncio.wait_for(self._queue.get(), remaining)
            except TimeoutError:
                break
            self._pending.append(message)
        raise AssertionError(
            f"probe {self.pid} received no matching message in {timeout}s; "
            f"queued: {self.queued!r:.2000}"
        )

    async def refute_receive(self, timeout: float = 0.1, match: Matcher = None) -> None:
        """Assert that no matching message is queued or arrives within ``timeout`` s.

        Non-matching messages stay queued.

        Raises:
            AssertionError: a matching message was received; it is named.

        Example::

            await probe.refute_receive(match=Exit)
        """
        try:
            message = await self.receive(timeout=timeout, match=match)
        except AssertionError:
            return
        raise AssertionError(f"probe {self.pid} received an unexpected message: {message!r:.2000}")

    def flush(self) -> list[Any]:
        """Take every queued message at once and return them, oldest first."""
        self._pull()
        messages, self._pending = self._pending, []
        return messages

    # -- acting as a process -------------------------------------------------
    def link(self, pid: Pid[Any]) -> None:
        """Link the probe to ``pid`` (with ``trap_exit`` its exit arrives as ``Exit``)."""
        self.node.link(self.pid, pid)

    def monitor(self, pid: Pid[Any]) -> Ref:
        """Monitor ``pid`` from the probe; its ``Down`` arrives in the queue."""
        return self.node.monitor(self.pid, pid)

    @property
    def alive(self) -> bool:
        """True while the probe process runs."""
        return self.pid.alive


def _matches(match: Matcher, message: Any) -> bool:
    if match is None:
        return True
    if isinstance(match, type):
        return isinstance(message, match)
    try:
        return bool(match(message))
    except Exception:  # a message of another shape simply does not match
        return False
