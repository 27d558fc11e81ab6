"""Transport handles: how channel and connection processes write frames.

Every write is synchronous and never waits: a WebSocket frame goes straight
into the socket's asyncio transport (one ``write`` per frame, so frames never
interleave), a long-poll message goes into the session's buffer. Fastlaned
broadcasts call :meth:`TransportHandle.prepare` once per (serializer,
transport kind) and hand the same prepared bytes to every subscriber.

Example::

    handle.write(V2JSONSerializer.encode_push(Push("room:1", "hi", {}, "3")))
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from bitnexus.channels.protocol import Frame, Reply, Serializer

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_SLOW_CONSUMER",
    "TransportHandle",
    "WebSocketHandle",
    "write_reply",
    "ws_frame",
]

_log = logging.getLogger("bitnexus.channels")

CLOSE_GOING_AWAY = 1001
CLOSE_SLOW_CONSUMER = 1013  # "try again later": the client reconnects

_TEXT, _BINARY = 0x1, 0x2


class TransportHandle(Protocol):
    """What a connection's processes need from its transport."""

    name: str
    """``"websocket"`` or ``"longpoll"``."""
    serializer: type[Serializer]
    frame_key: Any
    """Frames prepared for one handle can be written to any handle with the same key."""
    open_transport: Any
    """An asyncio transport fan-out may write prepared frames to directly
    while it is not closing and its buffer is small, or None."""

    @property
    def closed(self) -> bool: ...

    def write(self, frame: Frame) -> None: ...

    def prepare(self, frame: Frame) -> Any: ...

    def write_prepared(self, prepared: Any) -> None: ...

    def close(self, code: int, reason: str = "") -> None: ...


def write_reply(
    transport: TransportHandle, topic: str, status: str, response: Any, ref: Any, join_ref: Any
) -> None:
    """Write one ``phx_reply`` in the transport's serializer: the single
    place connections, channels and late replies answer a client message.

    Example::

        write_reply(handle, "room:1", "ok", {}, msg.ref, msg.join_ref)
    """
    frame = Reply(topic, status, response, ref, join_ref)
    transport.write(transport.serializer.encode_reply(frame))


def ws_frame(opcode_name: str, data: str | bytes) -> bytes:
    """One unmasked, unfragmented server WebSocket frame (RFC 6455 §5.2)."""
    payload = data.encode() if isinstance(data, str) else bytes(data)
    opcode = _TEXT if opcode_name == "text" else _BINARY
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, n))
    elif n < 65536:
        header = bytes((0x80 | opcode, 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 127)) + n.to_bytes(8, "big")
    return header + payload


class WebSocketHandle:
    """Writes frames of one aiohttp WebSocket connection.

    Args:
        transport: the asyncio transport under the upgraded connection.
        serializer: the negotiated serializer.
        ws: the aiohttp ``WebSocketResponse``; :meth:`close` starts its
            orderly close (close frame with our code, then TCP close).
        max_buffer: bytes queued in the kernel-side buffer beyond which the
            peer is a slow consumer and gets closed with 1013.

    ``last_seen`` (loop time of the last frame received) is kept here for
    the mount's idle sweeper: one attribute instead of a timer per socket.
    """

    name = "websocket"
    __slots__ = (
        "_transport",
        "_ws",
        "closing",
        "frame_key",
        "last_seen",
        "max_buffer",
        "open_transport",
        "serializer",
    )

    def __init__(
        self,
        transport: asyncio.WriteTransport,
        serializer: type[Serializer],
        ws: Any,
        *,
        max_buffer: int = 8 * 1024 * 1024,
    ) -> None:
        self._transport = transport
        self.serializer = serializer
        self._ws = ws
        self.max_buffer = max_buffer
        # The serializer alone: every WebSocket with it shares prepared frames.
        self.frame_key = serializer
        self.open_transport: asyncio.WriteTransport | None = transport
        """The asyncio transport until the socket closes (None after): the
        one "closed" flag, also read by fan-out to write to it directly."""
        self.closing: asyncio.Task[Any] | None = None
        """The close we started, for the handler to await before it returns."""
        self.last_seen = 0.0

    @property
    def closed(self) -> bool:
        return self.open_transport is None or self._transport.is_closing()

    def prepare(self, frame: Frame) -> bytes:
        return ws_frame(frame[0], frame[1])

    def write(self, frame: Frame) -> None:
        self.write_prepared(ws_frame(frame[0], frame[1]))

    def write_prepared(self, prepared: bytes) -> None:
        """Write, unless closed; a peer whose kernel buffer is over
        ``max_buffer`` is a slow consumer and gets closed with 1013."""
        transport = self.open_transport
        if transport is None:
            return
        if transport.is_closing():
            self.open_transport = None
            return
        if transport.get_write_buffer_size() > self.max_buffer:
            _log.warning(
                "closing slow websocket consumer (%d bytes queued)",
                transport.get_write_buffer_size(),
            )
            self.close(CLOSE_SLOW_CONSUMER, "slow consumer")
            return
        transport.write(prepared)

    def close(self, code: int, reason: str = "") -> None:
        if self.open_transport is None:
            return
        self.open_transport = None
        ws = self._ws
        if not ws.closed:
            close = ws.close(code=code, message=reason.encode()[:120])
            self.closing = asyncio.get_running_loop().create_task(close)
