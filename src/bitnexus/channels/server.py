"""Internal: the channel process (one per joined topic per connection).

It runs the developer's :class:`~bitnexus.channels.Channel` callbacks,
writes its own replies and pushes straight to the transport (so a join reply
always precedes what the channel pushes right after, S20), subscribes to its
topic with a fastlane, and monitors its connection (S41).
"""

from __future__ import annotations

import logging
from typing import Any, ClassVar

from bitnexus.actors import Actor, Down, From, Reply, Stop, is_normal_exit, shutdown_reason
from bitnexus.channels.channel import Channel, ChannelSocket, Error, NoReply, Ok
from bitnexus.channels.channel import Reply as ChannelReply
from bitnexus.channels.channel import Stop as ChannelStop
from bitnexus.channels.logging import filter_params
from bitnexus.channels.protocol import Broadcast, phx_close
from bitnexus.channels.transport import TransportHandle, write_reply
from bitnexus.exceptions import BadCallbackResult

__all__ = ["ChannelFastlane", "ChannelServer"]

_log = logging.getLogger("bitnexus.channels")
_IN_SHAPES = "None, NoReply(), Reply(status, response), Stop(reason, reply=None)"
_OUT_SHAPES = "None, NoReply(), Stop(reason)"
_QUIET_BUFFER = 64 * 1024
"""Below this many queued bytes a fan-out write skips the slow-consumer check."""


class ChannelFastlane:
    """PubSub delivery for one channel: non-intercepted broadcasts are encoded
    once per (serializer, transport kind) and written straight to the socket."""

    __slots__ = ("handle", "intercepts", "key", "pid")

    def __init__(self, transport: TransportHandle, intercepts: frozenset[str], pid: Any) -> None:
        self.handle = transport
        self.intercepts = intercepts
        self.pid = pid
        # Looked up once here, not once per subscriber per broadcast.
        self.key = transport.frame_key

    def deliver(self, message: Any, cache: dict[Any, Any]) -> None:
        """Deliver ``message`` to this one subscriber (see :meth:`deliver_all`)."""
        ChannelFastlane.deliver_all(message, (self,), cache, None)

    @staticmethod
    def deliver_all(
        message: Any, lanes: Any, cache: dict[Any, Any], skip: ChannelFastlane | None
    ) -> int:
        """Deliver ``message`` to every lane but ``skip``; returns how many got it.

        PubSub calls this once per broadcast with all of a topic's channel
        lanes, so the loop below runs 5,000 times a shout in the benchmark
        with no call per subscriber: the common case writes the prepared
        frame to the asyncio transport right here; anything unusual (closing,
        a full buffer, long poll) takes the handle's own checked path.
        """
        if message.__class__ is not Broadcast:
            sent = 0
            for lane in lanes:
                if lane is not skip:
                    lane.pid.send(message)
                    sent += 1
            return sent
        event = message.event
        delivered = 0
        last_key: Any = None
        prepared: Any = None
        for lane in lanes:
            if lane is skip:
                continue
            try:
                if event in lane.intercepts:
                    lane.pid.send(message)
                    delivered += 1
                    continue
                handle = lane.handle
                if lane.key is not last_key:
                    last_key = lane.key
                    prepared = cache.get(last_key)
                    if prepared is None:
                        prepared = handle.prepare(handle.serializer.fastlane_encode(message))
                        cache[last_key] = prepared
                raw = handle.open_transport
                if (
                    raw is not None
                    and raw.get_write_buffer_size() < _QUIET_BUFFER
                    and not raw.is_closing()
                ):
                    raw.write(prepared)
                else:
                    handle.write_prepared(prepared)
            except Exception:  # one broken subscriber must not stop the rest
                _log.exception("fan-out to %s failed", lane.pid)
                continue
            delivered += 1
        return delivered


_INTERCEPTS: dict[type[Channel], frozenset[str]] = {}


def _intercepts(channel_cls: type[Channel]) -> frozenset[str]:
    """One frozenset per channel class, shared by all its channels."""
    found = _INTERCEPTS.get(channel_cls)
    if found is None:
        found = _INTERCEPTS[channel_cls] = frozenset(channel_cls.intercept)
    return found


class ChannelServer(Actor):
    """Runs one Channel instance as a process."""

    kind: ClassVar[str] = "channel"
    __slots__ = ("_conn_ref", "channel", "client_join_ref", "pubsub", "socket", "transport")

    def __init__(
        self,
        channel_cls: type[Channel],
        socket: ChannelSocket,
        transport: TransportHandle,
        pubsub: Any,
    ) -> None:
        self.channel = channel_cls()
        self.socket = socket
        self.transport = transport
        self.pubsub = pubsub
        self.client_join_ref: Any = None
        self._conn_ref: Any = None

    def init(self) -> Any:  # type: ignore[override]  # runs in spawn, no I/O
        self.socket.channel_pid = self.pid
        self.channel.pid = self.pid
        self._conn_ref = self.monitor(self.socket.connection_pid)
        self.set_label(("channel", self.socket.topic))
        return None

    def _reply(self, status: str, response: Any, ref: Any, join_ref: Any) -> None:
        write_reply(self.transport, self.socket.topic, status, response, ref, join_ref)

    def _close_frame(self) -> None:
        t = self.transport
        t.write(t.serializer.encode_control(phx_close(self.socket.topic, self.client_join_ref)))

    # -- join ------------------------------------------------------------------
    async def handle_call(self, request: Any, from_: From) -> Any:
        _op, payload, join_ref, ref = request
        sock = self.socket
        self.client_join_ref = join_ref
        sock.join_ref = join_ref if join_ref is not None else ref
        try:
            result = await self.channel.join(sock.topic, payload, sock)
        except Exception as exc:
            self._reply("error", {"reason": "join crashed"}, ref, join_ref)
            return Stop(exc, reply="crashed")
        if _log.isEnabledFor(logging.INFO):
            _log.info(
                "JOINED %s (%s) Parameters: %s",
                sock.topic,
                "ok" if result is None or result.__class__ is Ok else "refused",
                filter_params(payload),
            )
        if result is None or result.__class__ is Ok:
            response = {} if result is None else result.response
            sock._joined = True
            intercepts = _intercepts(type(self.channel))
            self.pubsub.subscribe(
                self.pid, sock.topic, fastlane=ChannelFastlane(self.transport, intercepts, self.pid)
            )
            self._reply("ok", response, ref, join_ref)
            return Reply("ok")
        if result.__class__ is Error:
            self._reply("error", result.response, ref, join_ref)
            return Stop(shutdown_reason("join_refused"), reply="error")
        self._reply("error", {"reason": "join crashed"}, ref, join_ref)
        error = BadCallbackResult(
            self.channel, "join", result, "None, Ok(response), Error(response)"
        )
        return Stop(error, reply="crashed")

    # -- client messages ---------------------------------------------------------
    async def handle_cast(self, message: Any) -> Any:
        op, msg = message
        sock = self.socket
        if op == "leave":
            self._reply("ok", {}, msg.ref, sock.join_ref)
            self._close_frame()
            return Stop(shutdown_reason("left"))
        sock.ref = msg.ref
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug(
                "HANDLED %s INCOMING on %s Parameters: %s",
                msg.event,
                sock.topic,
                filter_params(msg.payload),
            )
        try:
            result = await self.channel.handle_in(msg.event, msg.payload, sock)
        finally:
            sock.ref = None
        if result is None or result.__class__ is NoReply:
            return None
        if result.__class__ is ChannelReply:
            self._reply(result.status, result.response, msg.ref, sock.join_ref)
            return None
        if result.__class__ is ChannelStop:
            if result.reply is not None:
                self._reply(result.reply.status, result.reply.response, msg.ref, sock.join_ref)
            return self._stop(result.reason)
        raise BadCallbackResult(self.channel, "handle_in", result, _IN_SHAPES)

    def _stop(self, reason: Any) -> Any:
        if is_normal_exit(reason):
            self._close_frame()  # S39: tell the client before exiting
        return Stop(reason)

    async def handle_info(self, message: Any) -> Any:
        sock = self.socket
        if message.__class__ is Down and message.ref == self._conn_ref:
            reason = message.reason
            if reason == "normal" or reason == "shutdown":
                reason = shutdown_reason("closed")
            return Stop(reason)
        if message.__class__ is Broadcast:
            result = await self.channel.handle_out(message.event, message.payload, sock)
            callback = "handle_out"
        else:
            result = await self.channel.handle_info(message, sock)
            callback = "handle_info"
        if result is None or result.__class__ is NoReply:
            return None
        if result.__class__ is ChannelStop:
            return self._stop(result.reason)
        raise BadCallbackResult(self.channel, callback, result, _OUT_SHAPES)

    async def terminate(self, reason: Any) -> None:
        if self.socket._joined:
            await self.channel.terminate(reason, self.socket)

    def summary(self) -> Any:
        sock = self.socket
        extra = self.channel.summary()
        info = {
            "topic": sock.topic,
            "join_ref": sock.join_ref,
            "socket_id": sock.socket_id,
            "transport": sock.transport,
            "connection": str(sock.connection_pid),
            "channel": type(self.channel).__qualname__,
        }
        if extra is not None:
            info["extra"] = extra
        return info
