"""Process addresses: :class:`Pid` and monitor references (:class:`Ref`).

A pid is an opaque, hashable address printed like ``<0.123.0>``. It is never
reused (PID-1); a restarted child gets a new pid, so hold on to names, not pids,
when you need a stable address.

Example::

    pid = node.spawn(Counter)
    pid.cast(("add", 2))                 # never waits
    assert await pid.call("get") == 2    # waits, 5 s by default
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from bitnexus.exceptions import CallTimeout, Misuse, NoProcess, ProcessExited

if TYPE_CHECKING:
    from bitnexus.actors.process import Process

__all__ = ["DEFAULT_CALL_TIMEOUT", "From", "Pid", "Ref"]

DEFAULT_CALL_TIMEOUT = 5.0
T = TypeVar("T")


class Pid(Generic[T]):
    """The address of one process on one node.

    Pids compare by (node, serial) and hash by serial. ``send``/``cast`` never wait and
    silently drop messages to dead processes (PID-3); ``call`` raises
    :class:`~bitnexus.exceptions.NoProcess` at once for a dead process.
    """

    __slots__ = ("__weakref__", "_node_id", "_proc", "serial")

    def __init__(self, node_id: int, serial: int, proc: Process | None = None) -> None:
        self._node_id = node_id
        self.serial = serial
        # A direct reference makes send/cast a pointer check instead of a table
        # lookup; the process clears it when it dies so nothing stays pinned.
        self._proc = proc

    def __repr__(self) -> str:
        return f"<{self._node_id}.{self.serial}.0>"

    __str__ = __repr__

    def __hash__(self) -> int:
        # The serial alone: pids of one node never share it, pids of two nodes
        # rarely meet in one table, and __eq__ still tells them apart. Hashing
        # a (node, serial) tuple cost a tuple per lookup, on every start.
        return self.serial

    def __eq__(self, other: object) -> bool:
        return (
            other.__class__ is Pid
            and self.serial == other.serial  # type: ignore[attr-defined]
            and self._node_id == other._node_id  # type: ignore[attr-defined]
        )

    def __lt__(self, other: Pid[Any]) -> bool:
        return (self._node_id, self.serial) < (other._node_id, other.serial)

    @property
    def alive(self) -> bool:
        """True while the process has not exited."""
        return self._proc is not None

    def send(self, message: Any) -> None:
        """Put ``message`` in the mailbox; it reaches ``handle_info``. Never waits."""
        proc = self._proc
        if proc is not None:
            proc.deliver_info(message)

    def cast(self, message: Any) -> None:
        """Put ``message`` in the mailbox for ``handle_cast``. Never waits."""
        proc = self._proc
        if proc is not None:
            proc.deliver_cast(message)

    async def call(self, request: Any, timeout: float | None = DEFAULT_CALL_TIMEOUT) -> T:
        """Send ``request`` to ``handle_call`` and wait for the reply.

        Args:
            request: any value; it is handed to the callee as is.
            timeout: seconds to wait, or None to wait until the reply or the
                callee's death.

        Raises:
            NoProcess: the process is not alive.
            CallTimeout: no reply in time; the late reply is discarded.
            ProcessExited: the callee exited before replying; ``.reason`` says why.
            Misuse: a process called itself (``calling_self``); it would wait forever.
        """
        proc = self._proc
        if proc is None:
            raise NoProcess(self)
        task = proc._task
        if task is not None and task is asyncio.current_task():
            # The reply could only come from the handler that is waiting for it (PID-5).
            raise Misuse(f"calling_self: {self} called itself with {request!r:.100}")
        loop = proc.loop
        fut: asyncio.Future[Any] = loop.create_future()
        proc.deliver_call(request, From(fut, None))
        if timeout is None:
            return await fut  # type: ignore[no-any-return]
        handle = loop.call_later(timeout, _expire, fut, self, request, timeout)
        try:
            return await fut  # type: ignore[no-any-return]
        finally:
            handle.cancel()


def _expire(fut: asyncio.Future[Any], pid: Pid[Any], request: Any, timeout: float) -> None:
    if not fut.done():
        fut.set_exception(CallTimeout(pid, request, timeout))


class From:
    """Who is waiting for a call's reply. Pass it to :func:`reply` to answer
    later, possibly from another process (GenServer's ``from``)."""

    __slots__ = ("_fut", "caller")

    def __init__(self, fut: asyncio.Future[Any], caller: Pid[Any] | None) -> None:
        self._fut = fut
        self.caller = caller

    @property
    def answered(self) -> bool:
        """True once a reply (or an error) was delivered, or the caller gave up."""
        return self._fut.done()

    def reply(self, value: Any) -> None:
        """Answer the caller. A second reply, or one after a timeout, is dropped."""
        fut = self._fut
        if not fut.done():
            fut.set_result(value)

    def fail(self, pid: Pid[Any], reason: Any) -> None:
        """Tell the caller that ``pid`` exited with ``reason`` before replying."""
        fut = self._fut
        if not fut.done():
            fut.set_exception(ProcessExited(pid, reason))

    def reply_threadsafe(self, value: Any) -> None:
        """Like :meth:`reply`, callable from another thread (thread actors)."""
        fut = self._fut
        fut.get_loop().call_soon_threadsafe(self._set_if_pending, value, None)

    def fail_threadsafe(self, error: BaseException) -> None:
        """Raise ``error`` in the caller; callable from another thread."""
        fut = self._fut
        fut.get_loop().call_soon_threadsafe(self._set_if_pending, None, error)

    def _set_if_pending(self, value: Any, error: BaseException | None) -> None:
        fut = self._fut
        if fut.done():
            return
        if error is None:
            fut.set_result(value)
        else:
            fut.set_exception(error)


class Ref:
    """A unique monitor (or timer) reference, like Erlang's ``make_ref()``."""

    __slots__ = ("serial", "watcher")

    def __init__(self, serial: int, watcher: int = 0) -> None:
        self.serial = serial
        self.watcher = watcher
        """Internal: the serial of the process holding this monitor (0: none)."""

    def __repr__(self) -> str:
        return f"#Ref<{self.serial}>"

    def __hash__(self) -> int:
        return self.serial

    def __eq__(self, other: object) -> bool:
        return other.__class__ is Ref and self.serial == other.serial  # type: ignore[attr-defined]
