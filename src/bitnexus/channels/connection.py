"""Internal: the connection process, one per WebSocket or long-poll session.

It owns the topic table, answers heartbeats, serialises joins (no other frame
is handled until the channel answered, S20), routes pushes to channel
processes, and turns channel exits into ``phx_close``/``phx_error`` (S39-S41).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from bitnexus.actors import KILL, Actor, Down, From, Reply, Stop, is_normal_exit, shutdown_reason
from bitnexus.channels.channel import ChannelSocket
from bitnexus.channels.protocol import (
    HEARTBEAT,
    PHOENIX_TOPIC,
    PHX_JOIN,
    PHX_LEAVE,
    Broadcast,
    Message,
    phx_close,
    phx_error,
)
from bitnexus.channels.server import ChannelServer
from bitnexus.channels.socket import Socket
from bitnexus.channels.transport import CLOSE_GOING_AWAY, TransportHandle, write_reply
from bitnexus.exceptions import ProcessExited, Refused
from bitnexus.supervision import DynamicSupervisor

__all__ = ["CLOSE_DRAIN", "Connection", "ConnectionOptions", "Routes"]

_log = logging.getLogger("bitnexus.channels")
CLOSE_DRAIN = 1012
CLOSE_SERVER_ERROR = 1011
DUPLICATE_JOIN_WAIT = 5.0


class ConnectionOptions:
    """Per-mount limits a connection enforces."""

    __slots__ = ("join_timeout", "max_channels")

    def __init__(self, *, max_channels: int = 100, join_timeout: float = 30.0) -> None:
        self.max_channels = max_channels
        self.join_timeout = join_timeout


class _Joined:
    __slots__ = ("join_ref", "pid", "ref")

    def __init__(self, pid: Any, ref: Any, join_ref: Any) -> None:
        self.pid = pid
        self.ref = ref
        self.join_ref = join_ref


class Routes:
    """A connection's topic table, shared with its WebSocket reader.

    The connection process owns it: only it joins and removes channels. The
    reader may route a frame itself with :meth:`route` while ``backlog`` is 0
    (the connection has finished every frame handed to it), so frames are
    handled exactly in the order the connection would handle them, without a
    hop through its mailbox: a pushed message costs one process wake-up (the
    channel's) instead of two, as in Phoenix where the socket process routes.

    Example::

        if routes.backlog or not routes.route(message, handle):
            routes.backlog += 1
            conn.cast(message)
    """

    __slots__ = ("backlog", "channels")

    def __init__(self) -> None:
        self.channels: dict[str, _Joined] = {}
        self.backlog = 0

    def route(self, msg: Message, transport: TransportHandle) -> bool:
        """Deliver ``msg`` if no join is involved: a heartbeat is answered, a
        message for a joined topic goes to its channel, a stale join_ref is
        dropped (S26/S36). False for joins and unknown topics."""
        topic = msg.topic
        event = msg.event
        if event == PHX_JOIN:
            return False
        if topic == PHOENIX_TOPIC and event == HEARTBEAT:
            write_reply(transport, PHOENIX_TOPIC, "ok", {}, msg.ref, None)
            return True
        entry = self.channels.get(topic)
        if entry is None:
            return False
        if msg.join_ref is not None and msg.join_ref != entry.join_ref:
            return True  # stale: dropped silently
        entry.pid.cast(("leave" if event == PHX_LEAVE else "in", msg))
        return True


class Connection(Actor):
    """One client connection: heartbeats, joins, routing, channel exits."""

    kind: ClassVar[str] = "connection"
    __slots__ = (
        "assigns",
        "connect_info",
        "hub",
        "options",
        "routes",
        "socket",
        "socket_id",
        "transport",
    )

    def __init__(
        self,
        *,
        socket: Socket,
        assigns: dict[str, Any],
        socket_id: str | None,
        transport: TransportHandle,
        hub: Any,
        connect_info: Mapping[str, Any],
        options: ConnectionOptions,
        routes: Routes | None = None,
    ) -> None:
        self.socket = socket
        self.assigns = assigns
        self.socket_id = socket_id
        self.transport = transport
        self.hub = hub
        self.connect_info = connect_info
        self.options = options
        self.routes = routes if routes is not None else Routes()

    @property
    def channels(self) -> dict[str, _Joined]:
        """The joined topics (the table in :class:`Routes`)."""
        return self.routes.channels

    def init(self) -> Any:  # type: ignore[override]  # runs in spawn, no I/O
        if self.socket_id is not None:
            self.hub.pubsub.subscribe(self.pid, self.socket_id)
        self.set_label(("connection", self.transport.name, self.socket_id))
        return None

    # -- writing -------------------------------------------------------------------
    def _reply(self, topic: str, status: str, response: Any, ref: Any, join_ref: Any) -> None:
        write_reply(self.transport, topic, status, response, ref, join_ref)

    # -- inbound frames ---------------------------------------------------------------
    async def handle_cast(self, message: Any) -> Any:
        if message.__class__ is Message:
            try:
                await self._route(message)
            finally:
                routes = self.routes
                if routes.backlog:  # only a WebSocket reader counts what it hands over
                    routes.backlog -= 1
            return None
        if message == "transport_closed":
            return Stop("normal")
        if message == "drain":
            self.transport.close(CLOSE_DRAIN, "server shutting down")
            return Stop(shutdown_reason("drain"))
        if message.__class__ is tuple and message[0] == "close":
            self.transport.close(message[1], message[2])
            return Stop(message[3])
        return None

    async def handle_call(self, request: Any, from_: From) -> Any:
        # Long poll acknowledges each frame once the socket layer processed it.
        if request.__class__ is Message:
            await self._route(request)
            return Reply("ok")
        return Reply(("error", "unknown_request"))

    async def _route(self, msg: Message) -> None:
        if msg.event == PHX_JOIN:
            await self._join(msg)
        elif not self.routes.route(msg, self.transport):
            topic = msg.topic
            if msg.event == PHX_LEAVE:
                self._reply(topic, "ok", {}, msg.ref, msg.join_ref)  # S37
            else:
                self._reply(topic, "error", {"reason": "unmatched topic"}, msg.ref, None)  # S24

    async def _join(self, msg: Message) -> None:
        topic = msg.topic
        channel_cls = self.socket.channel_for(topic)
        if channel_cls is None:
            _log.warning("ignoring unmatched topic %r in %s", topic, type(self.socket).__name__)
            self._reply(topic, "error", {"reason": "unmatched topic"}, msg.ref, None)  # S13
            return
        old = self.channels.pop(topic, None)
        if old is not None:
            await self._drop_duplicate(old)
        if len(self.channels) >= self.options.max_channels:
            self._reply(
                topic, "error", {"reason": "too many channels joined"}, msg.ref, msg.join_ref
            )
            if old is not None:
                self._close_old(topic, old)
            return
        outcome = await self._start_channel(channel_cls, msg)
        if old is not None:
            self._close_old(topic, old)  # S23: after the new join's reply
        if outcome is not None:
            self.channels[topic] = outcome

    def _close_old(self, topic: str, old: _Joined) -> None:
        t = self.transport
        t.write(t.serializer.encode_control(phx_close(topic, old.join_ref)))

    async def _drop_duplicate(self, old: _Joined) -> None:
        """S22: kill the old channel with ("shutdown", "duplicate_join"), no terminate."""
        self.demonitor(old.ref, flush=True)
        proc = old.pid._proc
        if proc is None:
            return
        done = proc.wait_exit()
        self.exit(old.pid, shutdown_reason("duplicate_join"))
        try:
            await asyncio.wait_for(done, DUPLICATE_JOIN_WAIT)
        except TimeoutError:
            self.exit(old.pid, KILL)
            await done

    async def _start_channel(self, channel_cls: type[Any], msg: Message) -> _Joined | None:
        hub = self.hub
        socket = ChannelSocket(
            topic=msg.topic,
            assigns=dict(self.assigns),
            transport=self.transport,
            pubsub=hub.pubsub,
            connection_pid=self.pid,
            socket_id=self.socket_id,
            connect_info=self.connect_info,
            hub=hub,
            handler=self.socket,
        )
        try:
            pid = await DynamicSupervisor.start_temporary(
                hub.channels_sup, ChannelServer, channel_cls, socket, self.transport, hub.pubsub
            )
        except Refused as exc:
            _log.error("could not start a channel for %r: %r", msg.topic, exc)
            self._reply(msg.topic, "error", {"reason": "join crashed"}, msg.ref, msg.join_ref)
            return None
        assert pid is not None
        ref = self.monitor(pid)
        try:
            outcome = await pid.call(
                ("join", msg.payload, msg.join_ref, msg.ref), timeout=self.options.join_timeout
            )
        except ProcessExited:
            outcome = "crashed"
            self._reply(msg.topic, "error", {"reason": "join crashed"}, msg.ref, msg.join_ref)
        except Refused:  # the join took too long: treat it as a crash
            self.exit(pid, KILL)
            outcome = "crashed"
            self._reply(msg.topic, "error", {"reason": "join crashed"}, msg.ref, msg.join_ref)
        if outcome != "ok":
            self.demonitor(ref, flush=True)
            return None
        return _Joined(pid, ref, msg.join_ref)

    # -- channel exits, disconnects --------------------------------------------------------
    async def handle_info(self, message: Any) -> Any:
        if message.__class__ is Down:
            # A scan of at most max_channels entries, once per channel exit,
            # instead of a second table per connection.
            ref = message.ref
            topic = next((t for t, e in self.channels.items() if e.ref == ref), None)
            if topic is None:
                return None
            entry = self.channels.pop(topic)
            if not is_normal_exit(message.reason):
                t = self.transport
                t.write(t.serializer.encode_control(phx_error(topic, entry.join_ref)))  # S40
            return None
        if message.__class__ is Broadcast:
            if message.topic == self.socket_id and message.event == "disconnect":
                self.transport.close(CLOSE_GOING_AWAY, "disconnected")  # S44
                return Stop(shutdown_reason("disconnected"))
            return None  # S45: other events on the id topic are ignored
        return None

    async def terminate(self, reason: Any) -> None:
        if not is_normal_exit(reason) and not self.transport.closed:
            self.transport.close(CLOSE_SERVER_ERROR, "server error")

    def summary(self) -> Any:
        return {
            "transport": self.transport.name,
            "serializer": self.transport.serializer.vsn,
            "socket_id": self.socket_id,
            "peer": self.connect_info.get("peer_data", {}).get("address"),
            "channels": {topic: str(e.pid) for topic, e in self.channels.items()},
        }
