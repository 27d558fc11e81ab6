"""Internal: one long-poll session = a :class:`LongPollHandle` (the transport
the connection and channel processes write to) plus a small
:class:`LongPollSession` actor that owns it (reference §3).

The handle buffers serialized text frames as strings; the session hands the
buffer to a waiting ``GET``, records when the client last polled and stops
itself with ``("shutdown", "inactive")`` once no poll happened for
1.5 windows (S42). The session is linked to its
:class:`~bitnexus.channels.connection.Connection`: when one ends, so does the
other, and the connection's channels see the session's exit reason.

Example::

    handle = LongPollHandle(V2JSONSerializer)
    conn = ...  # a Connection started with transport=handle
    session = await node.start(LongPollSession, handle=handle, connection=conn, window=10.0)
    messages = await session.call("poll", timeout=10.0)   # [] when the window expired
"""

from __future__ import annotations

import logging
from collections.abc import Hashable
from typing import Any, ClassVar

from bitnexus.actors import (
    Actor,
    Exit,
    From,
    NoReply,
    Pid,
    Reply,
    Stop,
    is_normal_exit,
    shutdown_reason,
)
from bitnexus.channels.protocol import Frame, Serializer

__all__ = ["INACTIVITY_FACTOR", "LongPollHandle", "LongPollSession", "session_name"]

_log = logging.getLogger("bitnexus.channels")

INACTIVITY_FACTOR = 1.5
"""A session with no poll for this many windows stops (Phoenix's rule)."""

_WAKE = "longpoll_wake"
_CHECK = "longpoll_check_inactive"
_DROPPED = object()  # what prepare() returns for a frame long poll cannot carry
CLOSE_SESSION_ENDED = 1001


def session_name(mount: str, sid: str) -> Hashable:
    """The registered name of the session ``sid`` at ``mount`` (found by token)."""
    return ("bitnexus.longpoll", mount, sid)


class LongPollHandle:
    """The transport handle of one long-poll session.

    Writes append the frame's text to a buffer and wake the session when the
    buffer stops being empty. Server→client binary frames cannot travel over
    long poll (the ``messages`` array holds JSON strings): they are dropped
    with a warning.

    Args:
        serializer: the serializer negotiated at session creation.
    """

    name = "longpoll"
    open_transport = None  # no socket to write to directly: fan-out uses write_prepared
    __slots__ = ("_closed", "buffer", "frame_key", "serializer", "session")

    def __init__(self, serializer: type[Serializer]) -> None:
        self.serializer = serializer
        self.frame_key = (serializer, "longpoll")
        self.buffer: list[str] = []
        self.session: Pid[Any] | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def prepare(self, frame: Frame) -> Any:
        opcode, data = frame
        if opcode != "text":
            _log.warning("dropping a %d-byte binary frame: long poll carries text only", len(data))
            return _DROPPED
        return data

    def write(self, frame: Frame) -> None:
        self.write_prepared(self.prepare(frame))

    def write_prepared(self, prepared: Any) -> None:
        if self._closed or prepared is _DROPPED:
            return
        buffer = self.buffer
        buffer.append(prepared)
        if len(buffer) == 1 and self.session is not None:
            # One wake per batch: frames written before the session runs ride along.
            self.session.send(_WAKE)

    def close(self, code: int, reason: str = "") -> None:
        """Called by the connection (disconnect, drain, error): ends the session."""
        if self._closed:
            return
        self._closed = True
        if self.session is not None:
            self.session.send(("transport_closed", code, reason))

    def end(self) -> None:
        """Mark closed without telling the session (the session itself is ending)."""
        self._closed = True

    def take(self) -> list[str]:
        """Everything buffered, oldest first; the buffer is emptied."""
        messages = self.buffer
        self.buffer = []
        return messages


class LongPollSession(Actor):
    """Owns a :class:`LongPollHandle` and the link to its connection.

    Calls:
        ``"poll"`` → the buffered messages at once if any; otherwise the
        reply waits until something is buffered (the caller's timeout is the
        window; an empty list answers a poll superseded by a newer one).
        ``None`` means the session is ending.
        ``"connection"`` → ``(connection_pid, serializer)`` or ``None``.

    Casts: ``("stop", reason)``.

    Args:
        handle: the transport handle the connection writes to.
        connection: the Connection process of this session (linked).
        window: the long-poll window in seconds.
        mount: the socket mount, for the admin tree.
    """

    kind: ClassVar[str] = "longpoll_session"

    def __init__(
        self, *, handle: LongPollHandle, connection: Pid[Any], window: float, mount: str = ""
    ) -> None:
        self.handle = handle
        self.connection = connection
        self.window = window
        self.mount = mount
        self.idle_limit = window * INACTIVITY_FACTOR
        self.waiter: From | None = None
        self.last_poll = 0.0

    async def init(self) -> Any:
        # Trap so the connection's exit arrives as a message; the link itself
        # makes the connection die with us even if we are killed.
        self.trap_exit = True
        self.link(self.connection)
        self.handle.session = self.pid
        self.last_poll = self._now()
        self.send_after(self.idle_limit, _CHECK)
        self.set_label(("longpoll_session", self.mount))
        return None

    def _now(self) -> float:
        return self.node.loop.time()

    async def handle_call(self, request: Any, from_: From) -> Any:
        handle = self.handle
        if request == "poll":
            self.last_poll = self._now()
            if handle.closed:
                return Reply(None)
            if handle.buffer:
                return Reply(handle.take())
            old = self.waiter
            if old is not None:
                old.reply([])  # a newer poll replaces it, as in Phoenix
            self.waiter = from_
            return NoReply()
        if request == "connection":
            return Reply(None if handle.closed else (self.connection, handle.serializer))
        return Reply(("error", "unknown_request"))

    async def handle_cast(self, message: Any) -> Any:
        if message.__class__ is tuple and len(message) == 2 and message[0] == "stop":
            return Stop(message[1])
        return None  # e.g. "drain": meant for the connection, which closes us

    async def handle_info(self, message: Any) -> Any:
        if message == _WAKE:
            self._flush()
            return None
        if message == _CHECK:
            waiter = self.waiter
            polling = waiter is not None and not waiter.answered
            if not polling and self._now() - self.last_poll >= self.idle_limit:
                return Stop(shutdown_reason("inactive"))
            self.send_after(self.idle_limit, _CHECK)
            return None
        if message.__class__ is Exit:
            if message.pid != self.connection:
                return None
            reason = message.reason
            # The connection already reported its own crash; ours would repeat it.
            return Stop(reason if is_normal_exit(reason) else shutdown_reason("connection_crashed"))
        if message.__class__ is tuple and message[0] == "transport_closed":
            return Stop("normal")
        return None

    def _flush(self) -> None:
        waiter = self.waiter
        if waiter is None or not self.handle.buffer:
            return
        self.waiter = None
        if not waiter.answered:  # the GET gave up (window expired): keep the buffer
            waiter.reply(self.handle.take())

    async def terminate(self, reason: Any) -> None:
        handle = self.handle
        if not handle.closed:
            handle.end()
            # The channels must see our reason, e.g. ("shutdown", "inactive").
            self.connection.cast(("close", CLOSE_SESSION_ENDED, "session ended", reason))

    def summary(self) -> Any:
        waiter = self.waiter
        return {
            "mount": self.mount,
            "connection": str(self.connection),
            "serializer": self.handle.serializer.vsn,
            "buffered": len(self.handle.buffer),
            "polling": waiter is not None and not waiter.answered,
        }
