"""The :class:`Actor` behaviour and its closed set of callback results.

An actor is a class whose async callbacks run one message at a time in its own
process. State lives on ``self``. Callbacks return one of a small closed set:

- ``handle_call`` → :class:`Reply`, :class:`NoReply` (answer later with
  ``from_.reply(...)``) or :class:`Stop`;
- ``handle_cast`` / ``handle_info`` → ``None`` (same as ``NoReply()``),
  :class:`NoReply` or :class:`Stop`;
- ``init`` → ``None``, :class:`NoReply` (to set a timeout), :class:`Ignore`
  or :class:`Stop`.

Anything else crashes the process with
:class:`~bitnexus.exceptions.BadCallbackResult`, naming the callback and the
allowed shapes. Results may carry ``timeout=`` seconds: if no message arrives
in that time, ``handle_info(Timeout)`` runs (GenServer's timeout).

Example::

    class Counter(Actor):
        def __init__(self, start: int = 0) -> None:
            self.count = start

        async def handle_call(self, request, from_):
            return Reply(self.count)

        async def handle_cast(self, amount):
            self.count += amount

    pid = node.spawn(Counter, 1)
    pid.cast(2)
    assert await pid.call("get") == 3
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from bitnexus.actors.node import Node
    from bitnexus.actors.pid import From, Pid, Ref
    from bitnexus.actors.process import Process

__all__ = ["Actor", "Ignore", "NoReply", "Reply", "Stop"]

_log = logging.getLogger("bitnexus.actors")
_NOTHING: Any = object()


# Not frozen: one of these is built per message, and a frozen dataclass's
# __init__ (object.__setattr__ per field) costs ~6x a plain one. Treat them
# as values all the same: nothing in BitNexus mutates one after creation.
@dataclass(slots=True)
class Reply:
    """Answer the caller of ``handle_call`` with ``value``."""

    value: Any = None
    timeout: float | None = None


@dataclass(slots=True)
class NoReply:
    """Keep going without answering (now). In ``handle_call``, keep the
    ``from_`` and answer later with ``from_.reply(value)``."""

    timeout: float | None = None


@dataclass(slots=True)
class Stop:
    """Stop the process with ``reason`` after running ``terminate``.

    In ``handle_call``, ``reply=`` answers the caller before stopping.
    """

    reason: Any = "normal"
    reply: Any = _NOTHING

    @property
    def has_reply(self) -> bool:
        return self.reply is not _NOTHING


@dataclass(slots=True)
class Ignore:
    """From ``init`` only: do not start; the process exits ``normal`` quietly
    and a supervisor keeps the child spec with no pid (SUP-6)."""


class Actor:
    """Base behaviour for processes. Every hook is optional.

    Hooks run inside the actor's own process, one message at a time, on the
    node's event loop; ``await`` inside a hook suspends only this actor.
    Attributes set in ``__init__`` or ``init`` are the actor's state; a restart
    builds a fresh instance, so state never leaks across restarts.
    """

    kind: ClassVar[str] = "worker"
    """What the admin tree calls this actor (worker, supervisor, channel, ...)."""

    # A slot, so internal actors that declare __slots__ carry no __dict__
    # (thousands of channels); subclasses without __slots__ get one as usual.
    __slots__ = ("__weakref__", "_process")

    _process: Process
    _on_exit: ClassVar[Any] = None  # internal: runtime kinds clean up here, even on kill

    # -- callbacks ---------------------------------------------------------
    async def init(self) -> Any:
        """Runs first, before any message. Return None to start, ``Ignore()``
        or ``Stop(reason)`` to refuse. Raising fails the start with the
        exception as the reason (``terminate`` is not called).

        ``init`` may also be a plain ``def``: it then runs inside ``spawn``,
        in the spawner's task, and the process is ready when ``spawn``
        returns, with no task or wait for the start. Use that for setup that
        does no I/O (monitors, subscriptions, labels); every connection and
        channel starts that way. Example::

            class Room(Actor):
                def init(self):
                    self.ref = self.monitor(self.owner)
        """
        return None

    async def handle_call(self, request: Any, from_: From) -> Any:
        """A ``call``. Return ``Reply``, ``NoReply`` or ``Stop``. The default
        crashes the process, as a GenServer with no ``handle_call`` does."""
        raise NotImplementedError(f"{type(self).__name__} does not handle calls: {request!r:.100}")

    async def handle_cast(self, message: Any) -> Any:
        """A ``cast``. Return None/``NoReply`` or ``Stop``."""
        raise NotImplementedError(f"{type(self).__name__} does not handle casts: {message!r:.100}")

    async def handle_info(self, message: Any) -> Any:
        """Any other message (raw sends, ``Down``, trapped ``Exit``,
        ``Timeout``). The default logs and ignores it (GS-4)."""
        _log.warning("%s %s got an unexpected message: %r", type(self).__name__, self.pid, message)
        return None

    async def terminate(self, reason: Any) -> None:
        """Runs when the process stops through ``Stop``, a crash in a
        callback, or (when trapping exits) its parent's exit signal. Not on
        ``kill``. Not guaranteed: vital cleanup belongs in a monitor."""
        return None

    def summary(self) -> Any:
        """A short, redacted description of the state for the admin tree."""
        return None

    # -- process helpers (valid once spawned) -------------------------------
    @property
    def pid(self) -> Pid[Any]:
        """This actor's own pid."""
        return self._process.pid

    @property
    def node(self) -> Node:
        """The node this actor runs on."""
        return self._process.node

    @property
    def trap_exit(self) -> bool:
        """When True, exit signals (except ``kill``) arrive as ``Exit`` messages."""
        return self._process.trap_exit

    @trap_exit.setter
    def trap_exit(self, value: bool) -> None:
        self._process.trap_exit = bool(value)

    def link(self, pid: Pid[Any]) -> None:
        """Link to ``pid`` (both ways). A dead pid sends us ``noproc`` at once."""
        self._process.node.link(self._process.pid, pid)

    def unlink(self, pid: Pid[Any]) -> None:
        """Remove the link to ``pid`` if there is one."""
        self._process.node.unlink(self._process.pid, pid)

    def monitor(self, pid: Pid[Any]) -> Ref:
        """Monitor ``pid``: one ``Down`` message when it exits."""
        return self._process.node.monitor(self._process.pid, pid)

    def demonitor(self, ref: Ref, *, flush: bool = False) -> None:
        """Stop a monitor; ``flush`` also drops a ``Down`` already queued."""
        # The watcher is known, so this is O(1), not a scan of every process.
        self._process.node.demonitor_from(self._process.pid, ref, flush=flush)

    def exit(self, pid: Pid[Any], reason: Any) -> None:
        """Send an exit signal to ``pid`` from this process."""
        self._process.node.exit(pid, reason, sender=self._process.pid)

    def send_after(self, delay: float, message: Any) -> Any:
        """Deliver ``message`` to our own ``handle_info`` after ``delay`` s.
        Returns a handle with ``cancel()``."""
        return self._process.loop.call_later(delay, self._process.pid.send, message)

    def set_label(self, label: Any) -> None:
        """A free-form label shown by the admin tree (OTP 27 ``set_label``)."""
        self._process.label = label
