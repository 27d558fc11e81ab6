"""The :class:`Channel` behaviour: what a developer writes for one topic.

One channel process runs per joined topic per connection. Its callbacks get
the event, the payload and the :class:`ChannelSocket` (topic, assigns, push,
broadcast, async replies). Results are a closed set:

- ``join`` → ``None`` / :class:`Ok` (join, with an optional response map) or
  :class:`Error` (refuse; the process exits, nothing is registered).
- ``handle_in`` → :class:`Reply`, :class:`NoReply` (or ``None``), or
  :class:`Stop` (optionally with a reply first).
- ``handle_out`` / ``handle_info`` → ``None`` / :class:`NoReply` or :class:`Stop`.

Example::

    class RoomChannel(Channel):
        intercept = ("new_msg",)

        async def join(self, topic, payload, socket):
            socket.assigns["name"] = payload.get("name", "anon")
            return Ok({"hello": socket.assigns["name"]})

        async def handle_in(self, event, payload, socket):
            if event == "shout":
                socket.broadcast("shout", payload)
                return NoReply()
            return Reply("ok", payload)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from bitnexus.channels.protocol import Broadcast, Push
from bitnexus.channels.transport import write_reply
from bitnexus.exceptions import Misuse

if TYPE_CHECKING:
    from bitnexus.actors import Pid
    from bitnexus.channels.transport import TransportHandle
    from bitnexus.pubsub import PubSub

__all__ = ["Channel", "ChannelSocket", "Error", "NoReply", "Ok", "Reply", "ReplyRef", "Stop"]


# Not frozen: one of these is built per message, and a frozen dataclass's
# __init__ (object.__setattr__ per field) costs ~6x a plain one. Treat them
# as values all the same: nothing in BitNexus mutates one after creation.
@dataclass(slots=True)
class Ok:
    """``join`` accepted; ``response`` (a map) goes back in the join reply."""

    response: Any = field(default_factory=dict)


@dataclass(slots=True)
class Error:
    """``join`` refused; ``response`` (a map, e.g. ``{"reason": "unauthorized"}``)
    goes back with status ``"error"``."""

    response: Any = field(default_factory=dict)


@dataclass(slots=True)
class Reply:
    """Answer the pushed message: a ``phx_reply`` with ``status`` and ``response``.
    ``response`` may be ``bytes`` for a binary reply (V2)."""

    status: str = "ok"
    response: Any = field(default_factory=dict)


@dataclass(slots=True)
class NoReply:
    """Nothing to send now (a client waiting for a reply times out after 10 s,
    unless you answer later through :meth:`ChannelSocket.reply_ref`)."""


@dataclass(slots=True)
class Stop:
    """Stop the channel. ``normal``, ``shutdown`` or ``("shutdown", x)`` close
    it gracefully (``phx_close``); any other reason is a crash (``phx_error``).
    ``reply`` (a :class:`Reply`) is sent first."""

    reason: Any = "normal"
    reply: Reply | None = None


def _check_payload(payload: Any, what: str) -> None:
    if not isinstance(payload, dict | bytes | bytearray | memoryview):
        raise Misuse(
            f"{what} payload must be a dict (JSON object) or bytes, got {type(payload).__name__}"
        )


class ReplyRef:
    """Where to send a late reply for one pushed message (S28). Usable from
    any process, any number of times."""

    __slots__ = ("join_ref", "ref", "topic", "transport")

    def __init__(self, transport: TransportHandle, topic: str, ref: Any, join_ref: Any) -> None:
        self.transport = transport
        self.topic = topic
        self.ref = ref
        self.join_ref = join_ref

    def reply(self, status: str = "ok", response: Any = None) -> None:
        """Send ``phx_reply`` with the original message's ref."""
        response = {} if response is None else response
        write_reply(self.transport, self.topic, status, response, self.ref, self.join_ref)


class ChannelSocket:
    """The channel's view of its connection, passed to every callback.

    Attributes:
        topic: the joined topic.
        assigns: a dict shared with the connection's ``connect`` assigns
            (copied at join) that the channel may change.
        join_ref: this channel instance's join ref.
        ref: the ref of the message being handled (None outside ``handle_in``).
        transport: ``"websocket"`` or ``"longpoll"``.
        socket_id: the connection's id (``Socket.id``), or None.
        connect_info: what the connection saw at connect (peer, headers, uri).
        hub: the node's :class:`~bitnexus.channels.hub.Hub` (pubsub, presence).
        handler: the :class:`~bitnexus.channels.Socket` instance that accepted
            the connection; apps hang their services on it.
    """

    __slots__ = (
        "_joined",
        "_pubsub",
        "_transport",
        "assigns",
        "channel_pid",
        "connect_info",
        "connection_pid",
        "handler",
        "hub",
        "join_ref",
        "ref",
        "socket_id",
        "topic",
    )

    def __init__(
        self,
        *,
        topic: str,
        assigns: dict[str, Any],
        transport: TransportHandle,
        pubsub: PubSub,
        connection_pid: Pid[Any],
        socket_id: str | None,
        connect_info: Mapping[str, Any],
        hub: Any = None,
        handler: Any = None,
    ) -> None:
        self.topic = topic
        self.hub = hub
        self.handler = handler
        self.assigns = assigns
        self._transport = transport
        self._pubsub = pubsub
        self.connection_pid = connection_pid
        self.channel_pid: Pid[Any] | None = None
        self.socket_id = socket_id
        self.connect_info = connect_info
        self.join_ref: Any = None
        self.ref: Any = None
        self._joined = False

    @property
    def transport(self) -> str:
        return self._transport.name

    @property
    def joined(self) -> bool:
        return self._joined

    def _require_joined(self, what: str) -> None:
        if not self._joined:
            raise Misuse(
                f"{what} on {self.topic!r} before the join finished; send yourself a "
                "message from join (self.pid.send(...)) and push from handle_info"
            )

    def push(self, event: str, payload: Any) -> None:
        """Send ``event`` to this client only (S30)."""
        self._require_joined("push")
        _check_payload(payload, "push")
        t = self._transport
        t.write(t.serializer.encode_push(Push(self.topic, event, payload, self.join_ref)))

    def broadcast(self, event: str, payload: Any) -> None:
        """Send ``event`` to every subscriber of the topic, this client included (S31)."""
        self._require_joined("broadcast")
        _check_payload(payload, "broadcast")
        self._pubsub.broadcast(self.topic, Broadcast(self.topic, event, payload))

    def broadcast_from(self, event: str, payload: Any) -> None:
        """Like :meth:`broadcast`, skipping this channel (S32)."""
        self._require_joined("broadcast_from")
        _check_payload(payload, "broadcast")
        assert self.channel_pid is not None
        self._pubsub.broadcast_from(
            self.channel_pid, self.topic, Broadcast(self.topic, event, payload)
        )

    def reply_ref(self) -> ReplyRef:
        """Capture where to reply to the message being handled, to answer later (S28)."""
        if self.ref is None:
            raise Misuse(
                "reply_ref() is only available while handling a pushed message (handle_in)"
            )
        return ReplyRef(self._transport, self.topic, self.ref, self.join_ref)

    def assign(self, **values: Any) -> None:
        """Set assigns: ``socket.assign(user_id=7)``."""
        self.assigns.update(values)


class Channel:
    """Behaviour for a channel. Override what you need; every hook is optional
    except ``join``.

    Class attributes:
        intercept: events whose broadcasts go through ``handle_out`` instead
            of straight to the client (S33).
    """

    intercept: ClassVar[tuple[str, ...]] = ()

    pid: Pid[Any]
    """This channel's process (set before ``join``)."""

    async def join(self, topic: str, payload: Any, socket: ChannelSocket) -> Any:
        """Accept (None / ``Ok(map)``) or refuse (``Error(map)``) the join.
        Raising answers ``{"reason": "join crashed"}``."""
        return Error({"reason": "join not implemented"})

    async def handle_in(self, event: str, payload: Any, socket: ChannelSocket) -> Any:
        """A message the client pushed. ``payload`` is ``bytes`` for binary pushes."""
        raise NotImplementedError(f"{type(self).__name__} does not handle event {event!r}")

    async def handle_out(self, event: str, payload: Any, socket: ChannelSocket) -> Any:
        """An intercepted broadcast; push it (changed or not) or drop it."""
        socket.push(event, payload)
        return None

    async def handle_info(self, message: Any, socket: ChannelSocket) -> Any:
        """Any other message sent to the channel process."""
        return None

    async def terminate(self, reason: Any, socket: ChannelSocket) -> None:
        """Runs on graceful stops (left, closed, Stop); not guaranteed after a crash."""
        return None

    def summary(self) -> Any:
        """Extra state for the admin tree."""
        return None
