"""Phoenix Channels wire protocol: frames and the V1/V2 JSON serializers.

A transport decodes each incoming WebSocket (or long-poll) frame into a
:class:`Message`, and encodes what the server sends back: a :class:`Reply`
(``phx_reply``), a :class:`Push` from one channel, a :class:`Broadcast`
(fastlane, no join_ref) or a :class:`Control` frame (``phx_close`` /
``phx_error``, whose ``ref`` on the wire is the join_ref).

Two serializers, picked per connection by :func:`serializer_for_vsn`:

- :class:`V2JSONSerializer` (``vsn=2.0.0``, what the JS client sends): text
  frames are ``[join_ref, ref, topic, event, payload]``; a ``bytes`` payload
  travels as a binary frame (kinds 0 push, 1 reply, 2 broadcast).
- :class:`V1JSONSerializer` (no vsn, or ``1.0.x``): JSON objects, no binary.

Payloads are plain JSON values; a binary payload is ``bytes`` (``bytearray``
and ``memoryview`` are accepted when encoding). Every decoding failure raises
:class:`~bitnexus.exceptions.ProtocolError`, which closes the connection with
1011, as Phoenix does.

Example::

    ser = serializer_for_vsn("2.0.0")
    msg = ser.decode('["3","8","room:lobby","new_msg",{"body":"hi"}]', opcode="text")
    ser.encode_reply(Reply(msg.topic, "ok", {}, msg.ref, msg.join_ref))
    # -> ("text", '["3","8","room:lobby","phx_reply",{"status":"ok","response":{}}]')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Protocol, TypeAlias

import orjson

from bitnexus.exceptions import Misuse, ProtocolError

__all__ = [
    "HEARTBEAT",
    "PHOENIX_TOPIC",
    "PHX_CLOSE",
    "PHX_ERROR",
    "PHX_JOIN",
    "PHX_LEAVE",
    "PHX_REPLY",
    "Broadcast",
    "Control",
    "Frame",
    "Message",
    "Push",
    "Reply",
    "Serializer",
    "V1JSONSerializer",
    "V2JSONSerializer",
    "phx_close",
    "phx_error",
    "serializer_for_vsn",
]

PHX_JOIN: Final = "phx_join"
PHX_LEAVE: Final = "phx_leave"
PHX_REPLY: Final = "phx_reply"
PHX_CLOSE: Final = "phx_close"
PHX_ERROR: Final = "phx_error"
HEARTBEAT: Final = "heartbeat"
PHOENIX_TOPIC: Final = "phoenix"

Frame: TypeAlias = tuple[str, str | bytes]
"""``(opcode, data)``: ``("text", str)`` or ``("binary", bytes)``."""

_BINARY = (bytes, bytearray, memoryview)
# Phoenix echoes whatever JSON it got as a ref; we accept the shapes a sane
# client sends. Exact type test: bool is an int subclass and must not pass.
_REF_TYPES = (str, int, type(None))
_PUSH, _REPLY, _BROADCAST = 0, 1, 2
_dumps = orjson.dumps
_loads = orjson.loads


# Not frozen: one of these is built per message, and a frozen dataclass's
# __init__ (object.__setattr__ per field) costs ~6x a plain one. Treat them
# as values all the same: nothing in BitNexus mutates one after creation.
@dataclass(slots=True)
class Message:
    """A client→server frame.

    Example::

        Message("room:lobby", "new_msg", {"body": "hi"}, ref="8", join_ref="3")
    """

    topic: str
    event: str
    payload: Any
    ref: str | int | None
    join_ref: str | int | None = None


@dataclass(slots=True)
class Reply:
    """A ``phx_reply`` answering the client message whose ref is ``ref``.

    Example::

        Reply("room:lobby", "ok", {"hello": 1}, ref="3", join_ref="3")
    """

    topic: str
    status: str
    response: Any
    ref: str | int | None
    join_ref: str | int | None = None


@dataclass(slots=True)
class Push:
    """A server push from one channel instance (ref is null on the wire).

    Example::

        Push("room:lobby", "joined", {"status": "connected"}, join_ref="3")
    """

    topic: str
    event: str
    payload: Any
    join_ref: str | int | None = None


@dataclass(slots=True)
class Broadcast:
    """A fastlane broadcast: join_ref and ref are both null on the wire.

    Example::

        Broadcast("room:lobby", "user_entered", {"user": None})
    """

    topic: str
    event: str
    payload: Any


@dataclass(slots=True)
class Control:
    """``phx_close`` / ``phx_error``: a push whose wire ``ref`` is the join_ref.

    Build them with :func:`phx_close` and :func:`phx_error`.
    """

    topic: str
    event: str
    payload: Any
    join_ref: str | int | None


def phx_close(topic: str, join_ref: str | int | None) -> Control:
    """The frame telling the client a channel closed gracefully.

    Example::

        phx_close("room:lobby", "3")  # V2: ["3","3","room:lobby","phx_close",{}]
    """
    return Control(topic, PHX_CLOSE, {}, join_ref)


def phx_error(topic: str, join_ref: str | int | None) -> Control:
    """The frame telling the client a channel crashed (it rejoins later).

    Example::

        phx_error("room:lobby", "3")
        # V2: ["3","3","room:lobby","phx_error",{"reason":"channel_crash"}]
    """
    return Control(topic, PHX_ERROR, {"reason": "channel_crash"}, join_ref)


# --- shared helpers -----------------------------------------------------------


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _loads_frame(data: str | bytes, vsn: str) -> Any:
    try:
        return _loads(data)
    except orjson.JSONDecodeError as exc:
        raise ProtocolError(f"{vsn} frame is not valid JSON: {exc}") from exc


def _message(topic: Any, event: Any, payload: Any, ref: Any, join_ref: Any) -> Message:
    if type(topic) is not str:
        raise ProtocolError(f"topic must be a string, got {_short(topic)}")
    if type(event) is not str:
        raise ProtocolError(f"event must be a string, got {_short(event)}")
    if type(ref) not in _REF_TYPES:
        raise ProtocolError(f"ref must be a string, integer or null, got {_short(ref)}")
    if type(join_ref) not in _REF_TYPES:
        raise ProtocolError(f"join_ref must be a string, integer or null, got {_short(join_ref)}")
    return Message(topic, event, payload, ref, join_ref)


def _unencodable(exc: Exception, frame: Any) -> ProtocolError:
    return ProtocolError(f"payload of {type(frame).__name__} is not JSON-serializable: {exc}")


def _field(value: Any, name: str) -> bytes:
    """One length-prefixed binary field: UTF-8, null as empty, at most 255 bytes."""
    if value is None:
        return b""
    try:
        raw = (value if type(value) is str else str(value)).encode()
    except UnicodeEncodeError as exc:
        raise ProtocolError(f"binary frame {name} is not encodable as UTF-8") from exc
    if len(raw) > 255:
        raise ProtocolError(f"binary frame {name} is {len(raw)} UTF-8 bytes; the limit is 255")
    return raw


def _check_opcode(opcode: str) -> None:
    if opcode != "text" and opcode != "binary":
        raise Misuse(f'opcode must be "text" or "binary", got {opcode!r}')


# --- V2 binary frames (section 1.8) -------------------------------------------


def _decode_binary(data: Any) -> Message:
    if isinstance(data, str):
        raise ProtocolError("binary frame data must be bytes, got str")
    if type(data) is not bytes:
        data = bytes(data)
    size = len(data)
    if size == 0:
        raise ProtocolError("empty binary frame")
    if data[0] != _PUSH:
        raise ProtocolError(f"binary frame kind {data[0]} is not accepted from clients (only 0)")
    if size < 5:
        raise ProtocolError(f"binary frame header truncated: {size} of 5 bytes")
    offset, fields = 5, []
    for name, length in zip(("join_ref", "ref", "topic", "event"), data[1:5], strict=True):
        end = offset + length
        if end > size:
            raise ProtocolError(
                f"binary frame {name} length {length} runs past the end of the {size}-byte frame"
            )
        try:
            fields.append(data[offset:end].decode())
        except UnicodeDecodeError as exc:
            raise ProtocolError(f"binary frame {name} is not valid UTF-8") from exc
        offset = end
    join_ref, ref, topic, event = fields
    # Null travels as the empty string; reading it back as null keeps a
    # binary push from a ref-less client in step with its JSON twin.
    return Message(topic, event, data[offset:], ref or None, join_ref or None)


def _binary_push(join_ref: Any, topic: str, event: str, payload: Any) -> bytes:
    jr, tp, ev = _field(join_ref, "join_ref"), _field(topic, "topic"), _field(event, "event")
    return b"".join((bytes((_PUSH, len(jr), len(tp), len(ev))), jr, tp, ev, payload))


def _binary_reply(reply: Reply) -> bytes:
    jr, rf = _field(reply.join_ref, "join_ref"), _field(reply.ref, "ref")
    tp, st = _field(reply.topic, "topic"), _field(reply.status, "status")
    header = bytes((_REPLY, len(jr), len(rf), len(tp), len(st)))
    return b"".join((header, jr, rf, tp, st, reply.response))


def _binary_broadcast(bcast: Broadcast) -> bytes:
    tp, ev = _field(bcast.topic, "topic"), _field(bcast.event, "event")
    return b"".join((bytes((_BROADCAST, len(tp), len(ev))), tp, ev, bcast.payload))


# --- serializers ----------------------------------------------------------------


class Serializer(Protocol):
    """What a transport needs from a serializer; used as ``type[Serializer]``.

    All methods are static, so the class itself is the serializer.
    """

    vsn: ClassVar[str]
    name: ClassVar[str]

    @staticmethod
    def decode(data: str | bytes, *, opcode: str) -> Message: ...
    @staticmethod
    def encode_reply(reply: Reply) -> Frame: ...
    @staticmethod
    def encode_push(push: Push) -> Frame: ...
    @staticmethod
    def encode_broadcast(bcast: Broadcast) -> Frame: ...
    @staticmethod
    def fastlane_encode(bcast: Broadcast) -> Frame: ...
    @staticmethod
    def encode_control(control: Control) -> Frame: ...
    @staticmethod
    def encode_client_message(msg: Message) -> Frame: ...


class V2JSONSerializer:
    """Phoenix's ``V2.JSONSerializer``: JSON arrays plus binary frames.

    Example::

        V2JSONSerializer.encode_push(Push("room:lobby", "joined", {"ok": True}, "3"))
        # -> ("text", '["3",null,"room:lobby","joined",{"ok":true}]')
        V2JSONSerializer.encode_push(Push("room:lobby", "bin", bytes([7, 7]), "3"))
        # -> ("binary", bytes.fromhex("00010a03") + b"3room:lobbybin" + bytes([7, 7]))
    """

    vsn: ClassVar[str] = "2.0.0"
    name: ClassVar[str] = "V2.JSONSerializer"
    phx_close = staticmethod(phx_close)
    phx_error = staticmethod(phx_error)

    @staticmethod
    def decode(data: str | bytes, *, opcode: str) -> Message:
        """Decode a client frame; binary frames must be kind 0 (push).

        Elements after the fifth are ignored, as Phoenix does. The payload may
        be any JSON value, or ``bytes`` for a binary frame.

        Raises:
            ProtocolError: the frame is malformed (the transport closes with 1011).
        """
        if opcode == "binary":
            return _decode_binary(data)
        _check_opcode(opcode)
        value = _loads_frame(data, "V2")
        if type(value) is not list:
            raise ProtocolError(f"V2 frame must be a JSON array, got {type(value).__name__}")
        if len(value) < 5:
            raise ProtocolError(
                f"V2 frame must have 5 elements [join_ref, ref, topic, event, payload], "
                f"got {len(value)}"
            )
        join_ref, ref, topic, event, payload = value[:5]
        return _message(topic, event, payload, ref, join_ref)

    @staticmethod
    def encode_reply(reply: Reply) -> Frame:
        """``[join_ref, ref, topic, "phx_reply", {"status", "response"}]`` or binary kind 1."""
        response = reply.response
        if isinstance(response, _BINARY):
            return "binary", _binary_reply(reply)
        body = {"status": reply.status, "response": response}
        frame = [reply.join_ref, reply.ref, reply.topic, PHX_REPLY, body]
        try:
            return "text", _dumps(frame).decode()
        except TypeError as exc:  # orjson.JSONEncodeError is a TypeError
            raise _unencodable(exc, reply) from exc

    @staticmethod
    def encode_push(push: Push) -> Frame:
        """``[join_ref, null, topic, event, payload]`` or binary kind 0 (no ref field)."""
        payload = push.payload
        if isinstance(payload, _BINARY):
            return "binary", _binary_push(push.join_ref, push.topic, push.event, payload)
        try:
            return "text", _dumps([push.join_ref, None, push.topic, push.event, payload]).decode()
        except TypeError as exc:
            raise _unencodable(exc, push) from exc

    @staticmethod
    def encode_broadcast(bcast: Broadcast) -> Frame:
        """``[null, null, topic, event, payload]`` or binary kind 2.

        Also available as :meth:`fastlane_encode`: PubSub calls it once per
        serializer per broadcast and writes the same frame to every subscriber.
        """
        payload = bcast.payload
        if isinstance(payload, _BINARY):
            return "binary", _binary_broadcast(bcast)
        try:
            return "text", _dumps([None, None, bcast.topic, bcast.event, payload]).decode()
        except TypeError as exc:
            raise _unencodable(exc, bcast) from exc

    fastlane_encode = encode_broadcast

    @staticmethod
    def encode_control(control: Control) -> Frame:
        """``[join_ref, join_ref, topic, event, payload]`` (phx_close / phx_error)."""
        jr = control.join_ref
        try:
            return "text", _dumps([jr, jr, control.topic, control.event, control.payload]).decode()
        except TypeError as exc:
            raise _unencodable(exc, control) from exc

    @staticmethod
    def encode_client_message(msg: Message) -> Frame:
        """Encode a frame the way the JS client sends it (tests, benchmarks).

        A ``bytes`` payload gives a binary kind 0 frame with a ref field.
        """
        payload = msg.payload
        if isinstance(payload, _BINARY):
            jr, rf = _field(msg.join_ref, "join_ref"), _field(msg.ref, "ref")
            tp, ev = _field(msg.topic, "topic"), _field(msg.event, "event")
            header = bytes((_PUSH, len(jr), len(rf), len(tp), len(ev)))
            return "binary", b"".join((header, jr, rf, tp, ev, payload))
        frame = [msg.join_ref, msg.ref, msg.topic, msg.event, payload]
        try:
            return "text", _dumps(frame).decode()
        except TypeError as exc:
            raise _unencodable(exc, msg) from exc


_V1_KEYS = ("topic", "event", "payload", "ref")


class V1JSONSerializer:
    """Phoenix's ``V1.JSONSerializer``: one JSON object per frame, no binary.

    Server frames carry ``topic``, ``event``, ``payload`` and ``ref`` only,
    never ``join_ref``.

    Example::

        V1JSONSerializer.encode_control(phx_close("room:lobby", None))
        # -> ("text", '{"topic":"room:lobby","event":"phx_close","payload":{},"ref":null}')
    """

    vsn: ClassVar[str] = "1.0.0"
    name: ClassVar[str] = "V1.JSONSerializer"
    phx_close = staticmethod(phx_close)
    phx_error = staticmethod(phx_error)

    @staticmethod
    def decode(data: str | bytes, *, opcode: str) -> Message:
        """Decode a client JSON object; ``join_ref`` is optional.

        Raises:
            ProtocolError: binary frame, bad JSON, not an object, a missing key
                or a field of the wrong type.
        """
        if opcode == "binary":
            raise ProtocolError("binary frames need the V2 serializer (vsn=2.0.0); this is V1")
        _check_opcode(opcode)
        value = _loads_frame(data, "V1")
        if type(value) is not dict:
            raise ProtocolError(f"V1 frame must be a JSON object, got {type(value).__name__}")
        for key in _V1_KEYS:
            if key not in value:
                raise ProtocolError(f"V1 frame is missing the key {key!r}")
        return _message(
            value["topic"], value["event"], value["payload"], value["ref"], value.get("join_ref")
        )

    @staticmethod
    def encode_reply(reply: Reply) -> Frame:
        """``{"topic", "event": "phx_reply", "payload": {"status", "response"}, "ref"}``."""
        response = reply.response
        if isinstance(response, _BINARY):
            raise ProtocolError("V1 cannot carry a binary reply; the client must use vsn=2.0.0")
        body = {"status": reply.status, "response": response}
        frame = {"topic": reply.topic, "event": PHX_REPLY, "payload": body, "ref": reply.ref}
        try:
            return "text", _dumps(frame).decode()
        except TypeError as exc:
            raise _unencodable(exc, reply) from exc

    @staticmethod
    def encode_push(push: Push) -> Frame:
        """``{"topic", "event", "payload", "ref": null}``."""
        return _v1_text(push.topic, push.event, push.payload, None, push)

    @staticmethod
    def encode_broadcast(bcast: Broadcast) -> Frame:
        """``{"topic", "event", "payload", "ref": null}``; also :meth:`fastlane_encode`,
        called once per serializer per broadcast."""
        return _v1_text(bcast.topic, bcast.event, bcast.payload, None, bcast)

    fastlane_encode = encode_broadcast

    @staticmethod
    def encode_control(control: Control) -> Frame:
        """``{"topic", "event", "payload", "ref": join_ref}`` (phx_close / phx_error)."""
        return _v1_text(control.topic, control.event, control.payload, control.join_ref, control)

    @staticmethod
    def encode_client_message(msg: Message) -> Frame:
        """Encode a frame the way a V1 client sends it; ``join_ref`` only if set."""
        if isinstance(msg.payload, _BINARY):
            raise ProtocolError("V1 cannot carry a binary payload")
        frame = {"topic": msg.topic, "event": msg.event, "payload": msg.payload, "ref": msg.ref}
        if msg.join_ref is not None:
            frame["join_ref"] = msg.join_ref
        try:
            return "text", _dumps(frame).decode()
        except TypeError as exc:
            raise _unencodable(exc, msg) from exc


def _v1_text(topic: str, event: str, payload: Any, ref: Any, frame: Any) -> Frame:
    if isinstance(payload, _BINARY):
        raise ProtocolError("V1 cannot carry a binary payload; the client must use vsn=2.0.0")
    try:
        obj = {"topic": topic, "event": event, "payload": payload, "ref": ref}
        return "text", _dumps(obj).decode()
    except TypeError as exc:
        raise _unencodable(exc, frame) from exc


# --- negotiation (section 1.3) ----------------------------------------------------

_SEMVER = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?"
)
_BY_MAJOR: dict[int, type[Serializer]] = {1: V1JSONSerializer, 2: V2JSONSerializer}
_VSN_SEEN: dict[str, type[Serializer]] = {}  # accepted vsn strings: one regex match each


def serializer_for_vsn(vsn: str | None) -> type[Serializer] | None:
    """Pick the serializer for the ``vsn`` query param, or None (answer 403).

    Missing means ``1.0.0``. ``~> 1.0.0`` (1.0.x) selects V1 and ``~> 2.0.0``
    selects V2; anything else, including strings that are not semver, is
    refused. As in Elixir's ``~>``, a pre-release of X.0.0 is below it.

    Example::

        serializer_for_vsn("2.0.0") is V2JSONSerializer
        serializer_for_vsn(None) is V1JSONSerializer
        serializer_for_vsn("123.1.1") is None
    """
    if vsn is None:
        return V1JSONSerializer
    known = _VSN_SEEN.get(vsn)
    if known is not None:
        return known
    match = _SEMVER.fullmatch(vsn)
    if match is None or match[2] != "0" or (match[3] == "0" and match[4] is not None):
        return None
    serializer = _BY_MAJOR.get(int(match[1]))
    if serializer is not None and len(_VSN_SEEN) < 64:  # clients send a handful of versions
        _VSN_SEEN[vsn] = serializer
    return serializer
