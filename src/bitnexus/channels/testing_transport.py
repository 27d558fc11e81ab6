"""An in-memory transport for channel tests: records what the server wrote
to a client, decoded back into :class:`ReceivedFrame` objects.

Part of :mod:`bitnexus.channels.testing`; import from there.

Example::

    transport = TestTransport(V2JSONSerializer)
    ...  # a Connection writes to it
    assert transport.frames[-1].event == "phx_reply"
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from bitnexus.channels.protocol import (
    PHX_CLOSE,
    PHX_ERROR,
    PHX_REPLY,
    Frame,
    Serializer,
    V2JSONSerializer,
)

if TYPE_CHECKING:
    from bitnexus.channels.testing import TestSocket

__all__ = ["ReceivedFrame", "TestTransport", "decode_server_frame"]


@dataclass(frozen=True)
class ReceivedFrame:
    """One frame the server wrote to a client, decoded.

    Attributes:
        topic, event, payload, ref, join_ref: as on the wire (``payload`` is
            ``bytes`` for a binary frame; a reply's payload is
            ``{"status", "response"}``).
        kind: ``"reply"``, ``"push"``, ``"broadcast"`` (V2 fastlane: no refs;
            V1 cannot tell broadcasts from pushes), ``"close"`` (phx_close) or
            ``"error"`` (phx_error).
        opcode: ``"text"`` or ``"binary"``.
        socket: the :class:`TestSocket` it was written to.
    """

    topic: str
    event: str
    payload: Any
    ref: Any
    join_ref: Any
    kind: str
    opcode: str = "text"
    socket: TestSocket | None = field(default=None, repr=False, compare=False)

    @property
    def status(self) -> Any:
        """A reply's status, else None."""
        return self.payload.get("status") if self.kind == "reply" else None

    @property
    def response(self) -> Any:
        """A reply's response, else None."""
        return self.payload.get("response") if self.kind == "reply" else None

    def __str__(self) -> str:
        refs = f"ref={self.ref!r} join_ref={self.join_ref!r}"
        if self.kind == "reply":
            return f"reply {self.topic} {self.status!r} {self.response!r:.300} ({refs})"
        return f"{self.kind} {self.topic} {self.event!r} {self.payload!r:.300} ({refs})"


def _kind(event: str, ref: Any, join_ref: Any, v2: bool) -> str:
    if event == PHX_REPLY:
        return "reply"
    if event == PHX_CLOSE:
        return "close"
    if event == PHX_ERROR:
        return "error"
    return "broadcast" if v2 and ref is None and join_ref is None else "push"


def _fields(data: bytes, lengths: bytes, start: int) -> tuple[list[str | None], int]:
    out: list[str | None] = []
    for n in lengths:
        out.append(data[start : start + n].decode() or None)
        start += n
    return out, start


def decode_server_frame(serializer: type[Serializer], frame: Frame) -> ReceivedFrame:
    """Decode what the server wrote, as a client would.

    Example::

        data = '[null,"1","phoenix","phx_reply",{"status":"ok","response":{}}]'
        decode_server_frame(V2JSONSerializer, ("text", data)).status  # "ok"
    """
    opcode, data = frame
    v2 = serializer.vsn.startswith("2.")
    if opcode == "binary":
        raw = bytes(data)  # type: ignore[arg-type]
        if raw[0] == 0:
            (jr, topic, event), end = _fields(raw, raw[1:4], 4)
            event = event or ""
            return ReceivedFrame(
                topic or "", event, raw[end:], None, jr, _kind(event, None, jr, v2), opcode
            )
        if raw[0] == 1:
            (jr, ref, topic, status), end = _fields(raw, raw[1:5], 5)
            payload = {"status": status, "response": raw[end:]}
            return ReceivedFrame(topic or "", PHX_REPLY, payload, ref, jr, "reply", opcode)
        (topic, event), end = _fields(raw, raw[1:3], 3)
        return ReceivedFrame(topic or "", event or "", raw[end:], None, None, "broadcast", opcode)
    value = orjson.loads(data)
    if v2:
        join_ref, ref, topic, event, payload = value
    else:
        join_ref, ref = None, value["ref"]
        topic, event, payload = value["topic"], value["event"], value["payload"]
    return ReceivedFrame(
        topic, event, payload, ref, join_ref, _kind(event, ref, join_ref, v2), opcode
    )


class TestTransport:
    """An in-memory :class:`~bitnexus.channels.transport.TransportHandle`.

    Records every frame the server writes, decoded (:attr:`frames`), and the
    raw ``(opcode, data)`` pairs (:attr:`raw`). Writes after a close are
    dropped, as on a real socket, and kept in :attr:`dropped`.

    Args:
        serializer: ``V2JSONSerializer`` (default) or ``V1JSONSerializer``.
        name: what ``ChannelSocket.transport`` says: ``"websocket"`` or ``"longpoll"``.

    Example::

        t = TestTransport()
        t.write(V2JSONSerializer.encode_push(Push("room:1", "hi", {}, "1")))
        assert t.frames[0].event == "hi"
    """

    __test__ = False  # not a pytest test class
    open_transport = None  # no socket: fan-out goes through write_prepared

    def __init__(
        self, serializer: type[Serializer] = V2JSONSerializer, *, name: str = "websocket"
    ) -> None:
        self.name = name
        self.serializer = serializer
        self.frame_key: tuple[Any, ...] = (serializer, "test")
        self.frames: list[ReceivedFrame] = []
        self.raw: list[Frame] = []
        self.dropped: list[ReceivedFrame] = []
        self.close_code: int | None = None
        """The code the *server* closed with (None if open or closed by the client)."""
        self.close_reason: str | None = None
        self.socket: TestSocket | None = None
        self.listeners: list[Callable[[ReceivedFrame], None]] = []
        self.on_close: list[Callable[[], None]] = []
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def prepare(self, frame: Frame) -> Frame:
        return frame

    def write(self, frame: Frame) -> None:
        decoded = decode_server_frame(self.serializer, frame)
        if self.socket is not None:
            decoded = dataclasses.replace(decoded, socket=self.socket)
        if self._closed:
            self.dropped.append(decoded)
            return
        self.raw.append(frame)
        self.frames.append(decoded)
        for listener in self.listeners:
            listener(decoded)

    def write_prepared(self, prepared: Frame) -> None:
        self.write(prepared)

    def close(self, code: int, reason: str = "") -> None:
        """The server closes the socket (e.g. 1001 on disconnect, 1012 on drain)."""
        if self._closed:
            return
        self.close_code, self.close_reason = code, reason
        self._shut()

    def client_close(self) -> None:
        """The client goes away (what :meth:`ChannelCase.close` does)."""
        if not self._closed:
            self._shut()

    def _shut(self) -> None:
        self._closed = True
        # Like the WebSocket reader loop's ``finally``: the connection hears of it.
        for callback in self.on_close:
            callback()
