"""Actors and helpers shared by the supervision tests.

``Worker`` is a counter that writes its life (init, terminate) into a shared
log, so tests can check start and stop order. ``watch`` and ``down_reason``
read the ``Down`` reasons a :class:`Probe` gets. ``Gate`` makes a
worker's ``init`` fail on demand, to simulate children that cannot (re)start.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bitnexus.actors import Actor, Down, Exit, From, Pid, Reply, Stop
from bitnexus.actors.testing import Probe

__all__ = [
    "Gate",
    "Log",
    "Worker",
    "down_reason",
    "events",
    "tags",
    "wait_until",
    "watch",
    "while_held",
]

Log = list[tuple[Any, ...]]


class Gate:
    """Decides whether a worker's ``init`` fails: a closed gate fails every
    start; ``fail_next(n)`` fails the next ``n`` starts and then opens.

    With ``hold=True`` a failing start first waits for :meth:`release`, so a
    test can queue requests while the supervisor is busy with the attempt
    (see :func:`while_held`).
    """

    def __init__(self, *, closed: bool = False, hold: bool = False) -> None:
        self.closed = closed
        self.hold = hold
        self.remaining_failures = 0
        self.attempts = 0
        self._released: asyncio.Event | None = None

    def fail_next(self, n: int) -> None:
        self.remaining_failures = n

    def release(self) -> None:
        """Let the held start attempt go on (and fail)."""
        if self._released is not None:
            self._released.set()

    async def enter(self, tag: Any) -> None:
        self.attempts += 1
        if not self.closed and self.remaining_failures <= 0:
            return
        if self.remaining_failures > 0:
            self.remaining_failures -= 1
        if self.hold:
            self._released = asyncio.Event()
            await self._released.wait()
        raise RuntimeError(f"{tag}: gate closed")


async def while_held(gate: Gate, *requests: Awaitable[Any]) -> list[Any]:
    """Send ``requests`` while a supervisor is inside a held, failing start;
    then release it. Their answers show the supervisor between the failed
    attempt and its retry. Exceptions are returned, not raised."""
    tasks = [asyncio.ensure_future(request) for request in requests]
    for _ in range(3):
        await asyncio.sleep(0)  # each task gets to put its call in the mailbox
    gate.release()
    return await asyncio.gather(*tasks, return_exceptions=True)


class Worker(Actor):
    """A counter that logs ``("init", tag)``, ``("terminate", tag, reason)``
    when ``terminate`` begins and ``("terminated", tag)`` when it ends.

    Calls: ``"get"``, ``"incr"``, ``("stop", reason)``. Casts: ``"crash"``,
    ``("stop", reason)``. With ``trap=True`` it traps exits, so a shutdown from
    its supervisor runs ``terminate``; ``hang=True`` makes ``terminate`` never
    return; ``on_exit`` is the reason it stops with when it receives an
    ``Exit`` message from a process other than its parent.
    """

    def __init__(
        self,
        tag: Any = "w",
        log: Log | None = None,
        *,
        trap: bool = False,
        hang: bool = False,
        terminate_delay: float = 0.0,
        gate: Gate | None = None,
        init_result: Any = None,
        on_exit: Any = None,
    ) -> None:
        self.tag = tag
        self.log: Log = log if log is not None else []
        self.trap = trap
        self.hang = hang
        self.terminate_delay = terminate_delay
        self.gate = gate
        self.init_result = init_result
        self.on_exit = on_exit
        self.count = 0

    async def init(self) -> Any:
        if self.trap:
            self.trap_exit = True
        if self.gate is not None:
            await self.gate.enter(self.tag)
        self.log.append(("init", self.tag))
        return self.init_result

    async def handle_call(self, request: Any, from_: From) -> Any:
        if request == "get":
            return Reply(self.count)
        if request == "incr":
            self.count += 1
            return Reply(self.count)
        if request == "extra":
            return Reply(self.tag)
        if isinstance(request, tuple) and request[0] == "stop":
            return Stop(request[1], reply="ok")
        return Reply(("unknown", request))

    async def handle_cast(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError(f"{self.tag} crashed on purpose")
        if isinstance(message, tuple) and message[0] == "stop":
            return Stop(message[1])
        return None

    async def handle_info(self, message: Any) -> Any:
        if isinstance(message, Exit):
            self.log.append(("exit", self.tag, message.reason))
            if self.on_exit is not None:
                return Stop(self.on_exit)
        return None

    async def terminate(self, reason: Any) -> None:
        self.log.append(("terminate", self.tag, reason))
        if self.terminate_delay:
            await asyncio.sleep(self.terminate_delay)
        if self.hang:
            await asyncio.Event().wait()
        self.log.append(("terminated", self.tag))


def watch(probe: Probe, *pids: Pid[Any]) -> None:
    """Monitor every pid from ``probe``."""
    for pid in pids:
        probe.monitor(pid)


async def down_reason(probe: Probe, pid: Pid[Any], timeout: float = 3.0) -> Any:
    """The reason ``pid`` died with, as the ``Down`` message to ``probe`` said."""
    down = await probe.receive(timeout, match=lambda m: isinstance(m, Down) and m.pid == pid)
    return down.reason


def events(log: Log, kind: str) -> list[tuple[Any, ...]]:
    """The log entries of one kind, without the kind: ``events(log, "init")``."""
    return [entry[1:] for entry in log if entry[0] == kind]


def tags(log: Log, kind: str) -> list[Any]:
    """The tags of the log entries of one kind, in order."""
    return [entry[1] for entry in log if entry[0] == kind]


async def wait_until(predicate: Callable[[], Any], timeout: float = 3.0) -> Any:
    """Poll ``predicate`` (plain or async) until it returns something truthy;
    fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(0.002)
