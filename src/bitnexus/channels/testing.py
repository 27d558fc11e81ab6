"""Test helpers for channels, like Phoenix's ``ChannelTest``: no network needed.

:func:`channel_test` starts a node with a PubSub, a :class:`Hub` and its
supervisors (plus presence, when available). :meth:`ChannelCase.connect` runs
your ``Socket.connect``/``id`` and starts a real connection process whose
transport is an in-memory :class:`TestTransport`, so joins, routing, limits,
replies, pushes and closes behave exactly as over a WebSocket. Every frame the
server writes is decoded back into a :class:`ReceivedFrame`; the assertions
take them out one at a time (a selective receive, like ``assert_receive``).

Example::

    from bitnexus.channels import Channel, Ok, Reply, Socket
    from bitnexus.channels.testing import channel_test

    class RoomChannel(Channel):
        async def join(self, topic, payload, socket):
            self.pid.send("after_join")       # push from handle_info, not join
            return Ok({"topic": topic})

        async def handle_info(self, message, socket):
            socket.push("welcome", {"name": socket.assigns["name"]})

        async def handle_in(self, event, payload, socket):
            if event == "shout":
                socket.broadcast("shout", payload)
                return None
            return Reply("ok", payload)

    class UserSocket(Socket):
        channels = [("room:*", RoomChannel)]

        async def connect(self, params, connect_info):
            return {"name": params["name"]}

    async def test_room_channel():
        async with channel_test() as ct:
            socket = await ct.connect(UserSocket, {"name": "ada"})
            reply = await ct.subscribe_and_join(socket, "room:1")
            assert (reply.status, reply.response) == ("ok", {"topic": "room:1"})
            await ct.assert_push("welcome", {"name": "ada"})
            ref = ct.push(socket, "room:1", "ping", {"n": 1})
            await ct.assert_reply(ref, "ok", {"n": 1})
            ct.push(socket, "room:1", "shout", {"body": "hi"})
            await ct.assert_broadcast("room:1", "shout", {"body": "hi"})
            await ct.assert_push("shout", {"body": "hi"})   # the sender's own client too

As a pytest fixture::

    @pytest.fixture
    async def ct():
        async with channel_test() as case:
            yield case
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from typing import Any

from bitnexus.actors import Node, Pid
from bitnexus.actors.testing import Probe
from bitnexus.channels.connection import Connection, ConnectionOptions
from bitnexus.channels.hub import Hub
from bitnexus.channels.protocol import (
    PHX_JOIN,
    PHX_LEAVE,
    Broadcast,
    Message,
    Serializer,
    V2JSONSerializer,
)
from bitnexus.channels.socket import Refuse, Socket, SocketState
from bitnexus.channels.testing_transport import ReceivedFrame, TestTransport, decode_server_frame
from bitnexus.exceptions import BadCallbackResult, Misuse, Refused
from bitnexus.pubsub import PubSub, PubSubServer
from bitnexus.supervision import Application, ChildSpec, DynamicSupervisor, Restart

__all__ = [
    "ANY",
    "ChannelCase",
    "ConnectRefused",
    "JoinRefused",
    "ReceivedFrame",
    "TestSocket",
    "TestTransport",
    "channel_test",
    "decode_server_frame",
    "default_connect_info",
]

_ids = itertools.count(1)


class _Any:
    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Any()
"""Equal to everything; use it for a value you do not care about, also nested:
``await ct.assert_push("joined", {"id": ANY})``."""


class ConnectRefused(Refused):
    """``Socket.connect`` returned :class:`~bitnexus.channels.Refuse`.

    Attributes:
        refusal: the :class:`Refuse` (``status``, ``reason``).
    """

    def __init__(self, refusal: Refuse) -> None:
        self.refusal = refusal
        super().__init__(f"connect refused: {refusal.status} {refusal.reason}")


class JoinRefused(Refused):
    """A join answered with an error reply (``raise_on_error=True``).

    Attributes:
        reply: the :class:`ReceivedFrame` of the reply (``status``, ``response``).
    """

    def __init__(self, reply: ReceivedFrame) -> None:
        self.reply = reply
        super().__init__(f"join of {reply.topic!r} refused: {reply.status} {reply.response!r}")


class TestSocket:
    """The client side of one test connection (returned by :meth:`ChannelCase.connect`).

    Attributes:
        handler: the :class:`~bitnexus.channels.Socket` instance.
        assigns: what ``connect`` returned.
        socket_id: what ``id`` returned.
        connect_info: what ``connect`` saw.
        transport: the :class:`TestTransport` (all frames, close code).
        connection: the connection process.
        join_refs: ``{topic: join_ref}`` of the channels this client joined.
    """

    __test__ = False

    def __init__(
        self,
        case: ChannelCase,
        handler: Socket,
        assigns: dict[str, Any],
        socket_id: str | None,
        connect_info: Mapping[str, Any],
        transport: TestTransport,
        connection: Pid[Any],
        join_timeout: float = 30.0,
    ) -> None:
        self.case = case
        self.join_timeout = join_timeout
        self.handler = handler
        self.assigns = assigns
        self.socket_id = socket_id
        self.connect_info = connect_info
        self.transport = transport
        self.connection = connection
        self.join_refs: dict[str, Any] = {}

    @property
    def frames(self) -> list[ReceivedFrame]:
        """Every frame written to this client so far (assertions do not remove them here)."""
        return self.transport.frames

    def channel_pids(self) -> dict[str, Pid[Any]]:
        """``{topic: pid}`` of this connection's live channel processes."""
        node = self.case.node
        info = node.info(self.connection)
        out: dict[str, Pid[Any]] = {}
        for pid in info.monitors if info is not None else ():
            chan = node.info(pid)
            if chan is not None and chan.kind == "channel":
                out[chan.label[1]] = pid
        return out

    def channel_pid(self, topic: str) -> Pid[Any] | None:
        """The channel process joined on ``topic``, or None."""
        return self.channel_pids().get(topic)


def default_connect_info() -> dict[str, Any]:
    """A ``connect_info`` shaped like a loopback WebSocket client's."""
    return {
        "peer_data": {"address": "127.0.0.1", "port": 0, "ssl_cert": None},
        "x_headers": [],
        "trace_context_headers": [],
        "uri": {
            "scheme": "http",
            "host": "localhost",
            "port": 80,
            "path": "/socket/websocket",
            "query": "",
        },
        "user_agent": "bitnexus-channel-test",
        "sec_websocket_headers": [],
        "auth_token": None,
    }


def _describe(items: list[Any]) -> str:
    if not items:
        return "nothing"
    earlier = f"\n  ... {len(items) - 30} earlier" if len(items) > 30 else ""
    return earlier + "\n  " + "\n  ".join(str(i) for i in items[-30:])


_DEFAULT: Any = object()


class ChannelCase:
    """A running channel stack for one test; use ``async with``.

    Args:
        node: run on this node (a fresh one, shut down afterwards, by default).
        presence: also start ``bitnexus.channels.presence.Presence`` if it exists.

    Attributes:
        node, pubsub, hub: the running parts.
        probe: the test's own process (subscribed by :meth:`subscribe`).
        received: every frame any test socket got, in order.
    """

    def __init__(self, node: Node | None = None, *, presence: bool = True) -> None:
        self._own_node = node is None
        self.node = node if node is not None else Node()
        self._prefix = f"channel_test.{next(_ids)}"
        self.pubsub = PubSub(self.node, name=self._prefix)
        self.hub = Hub(self.node, self.pubsub, prefix=self._prefix)
        self._want_presence = presence
        self.app: Application | None = None
        self.probe: Probe | None = None
        self.received: list[ReceivedFrame] = []
        self._inbox: list[ReceivedFrame] = []
        self._changed = asyncio.Event()
        self._refs = itertools.count(1)
        self._patched: list[Socket] = []
        self.exits: dict[Pid[Any], Any] = {}
        """Exit reason of every process that exited on the node while the case ran."""

    def _on_exit(self, pid: Pid[Any], reason: Any) -> None:
        self.exits[pid] = reason

    # -- lifecycle ------------------------------------------------------------
    async def start(self) -> ChannelCase:
        """Start the supervision tree (``async with`` does it for you)."""
        children = [ChildSpec.for_actor(PubSubServer, self.pubsub, id="pubsub")]
        if self._want_presence:
            children += self.hub.attach_presence(name=f"{self._prefix}.presence")
        children += self.hub.child_specs()
        self.node.exit_listeners.append(self._on_exit)
        self.app = Application(children, node=self.node, name=self._prefix, shutdown_timeout=5.0)
        await self.app.start()
        self.probe = await Probe.start(self.node)
        return self

    async def stop(self) -> None:
        """Stop everything started for this case and undo ``channel=`` routes."""
        for handler in self._patched:
            handler.__dict__.pop("channel_for", None)
            handler.__dict__.pop("_test_routes", None)
        self._patched.clear()
        if self.app is not None:
            await self.app.stop()
        if self.probe is not None and self.probe.alive:
            await self.node.stop(self.probe.pid)
        if self._own_node:
            await self.node.shutdown()
        if self._on_exit in self.node.exit_listeners:
            self.node.exit_listeners.remove(self._on_exit)

    async def __aenter__(self) -> ChannelCase:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- connecting -------------------------------------------------------------
    async def connect(
        self,
        socket: type[Socket] | Socket,
        params: dict[str, Any] | None = None,
        connect_info: dict[str, Any] | None = None,
        *,
        serializer: type[Serializer] = V2JSONSerializer,
        transport: str = "websocket",
        max_channels: int = 100,
        join_timeout: float = 30.0,
    ) -> TestSocket:
        """Run ``connect`` and ``id`` as the handshake does, then start a connection.

        Args:
            socket: a ``Socket`` subclass (instantiated with no arguments) or instance.
            params: the query params ``connect`` sees.
            connect_info: defaults to :func:`default_connect_info`.
            serializer: ``V2JSONSerializer`` or ``V1JSONSerializer``.
            transport: the transport name channels see.
            max_channels, join_timeout: the mount's limits.

        Raises:
            ConnectRefused: ``connect`` returned ``Refuse``.
            BadCallbackResult: ``connect`` or ``id`` returned something invalid
                (a real client would get 403). Exceptions from ``connect`` propagate.

        Example::

            socket = await ct.connect(UserSocket, {"token": token})
        """
        handler = socket() if isinstance(socket, type) else socket
        info = default_connect_info() if connect_info is None else connect_info
        assigns = await handler.connect(dict(params or {}), info)
        if isinstance(assigns, Refuse):
            raise ConnectRefused(assigns)
        if not isinstance(assigns, dict):
            raise BadCallbackResult(
                handler, "connect", assigns, "a dict of assigns, Refuse(status, reason)"
            )
        socket_id = handler.id(SocketState(assigns, transport, info))
        if socket_id is not None and not isinstance(socket_id, str):
            raise BadCallbackResult(handler, "id", socket_id, "str, None")
        handle = TestTransport(serializer, name=transport)
        spec = ChildSpec.for_actor(
            Connection,
            id="connection",
            restart=Restart.TEMPORARY,
            socket=handler,
            assigns=assigns,
            socket_id=socket_id,
            transport=handle,
            hub=self.hub,
            connect_info=info,
            options=ConnectionOptions(max_channels=max_channels, join_timeout=join_timeout),
        )
        conn = await DynamicSupervisor.start_child(self.hub.connections_sup, spec)
        assert conn is not None
        test_socket = TestSocket(
            self, handler, assigns, socket_id, info, handle, conn, join_timeout
        )
        handle.socket = test_socket
        handle.listeners.append(self._on_frame)
        handle.on_close.append(lambda: conn.cast("transport_closed"))
        return test_socket

    def _on_frame(self, frame: ReceivedFrame) -> None:
        self.received.append(frame)
        self._inbox.append(frame)
        self._changed.set()

    # -- client → server --------------------------------------------------------
    def _message(self, socket: TestSocket, msg: Message) -> Message:
        if socket.transport.closed:
            raise Misuse(f"the test socket {socket.connection} is closed")
        # Through the serializer both ways, as a real client's frame would go.
        opcode, data = socket.transport.serializer.encode_client_message(msg)
        return socket.transport.serializer.decode(data, opcode=opcode)

    def push(
        self,
        socket: TestSocket,
        topic: str,
        event: str,
        payload: Any = None,
        *,
        join_ref: Any = _DEFAULT,
    ) -> str:
        """Send ``event`` from the client; returns the message ref for :meth:`assert_reply`.

        Args:
            payload: a JSON value, or ``bytes`` (a binary frame, V2 only).
            join_ref: defaults to this client's join_ref for ``topic``; pass
                another value to send a stale one.

        Example::

            ref = ct.push(socket, "room:1", "new_msg", {"body": "hi"})
        """
        ref = str(next(self._refs))
        jr = socket.join_refs.get(topic) if join_ref is _DEFAULT else join_ref
        msg = self._message(
            socket, Message(topic, event, {} if payload is None else payload, ref, jr)
        )
        socket.connection.cast(msg)
        return ref

    async def join(
        self,
        socket: TestSocket,
        topic: str,
        payload: Any = None,
        *,
        channel: type[Any] | None = None,
        raise_on_error: bool = False,
    ) -> ReceivedFrame:
        """Join ``topic`` through the connection; returns the join reply.

        Args:
            channel: use this Channel class for ``topic`` instead of the
                socket's routes (for the rest of this case, on this handler).
            raise_on_error: raise :class:`JoinRefused` for an error reply.
        """
        if channel is not None:
            self._route(socket.handler, topic, channel)
        ref = str(next(self._refs))
        msg = self._message(
            socket, Message(topic, PHX_JOIN, {} if payload is None else payload, ref, ref)
        )
        await socket.connection.call(msg, timeout=socket.join_timeout + 5.0)
        reply = await self._take(
            lambda f: f.kind == "reply" and f.ref == ref and f.topic == topic,
            1.0,
            f"the join reply for {topic!r} (ref {ref!r})",
        )
        if reply.status == "ok":
            socket.join_refs[topic] = ref
        else:
            socket.join_refs.pop(topic, None)
            if raise_on_error:
                raise JoinRefused(reply)
        return reply

    async def subscribe_and_join(
        self,
        socket: TestSocket,
        topic: str,
        payload: Any = None,
        *,
        channel: type[Any] | None = None,
        raise_on_error: bool = False,
    ) -> ReceivedFrame:
        """Subscribe the test to ``topic`` (for :meth:`assert_broadcast`), then :meth:`join`.

        Example::

            reply = await ct.subscribe_and_join(socket, "room:1", {"user": "ada"})
            assert reply.status == "ok"
        """
        self.subscribe(topic)
        return await self.join(
            socket, topic, payload, channel=channel, raise_on_error=raise_on_error
        )

    def _route(self, handler: Socket, topic: str, channel: type[Any]) -> None:
        try:
            routes = handler.__dict__.get("_test_routes")
        except AttributeError:
            raise Misuse(
                f"channel= needs a Socket with a __dict__; {type(handler).__name__} has none"
            ) from None
        if routes is None:
            routes = {}
            original = type(handler).channel_for.__get__(handler)
            handler.__dict__["_test_routes"] = routes
            handler.__dict__["channel_for"] = lambda t: routes.get(t) or original(t)
            self._patched.append(handler)
        routes[topic] = channel

    async def leave(self, socket: TestSocket, topic: str, timeout: float = 1.0) -> ReceivedFrame:
        """Send ``phx_leave``; returns its reply once the channel has exited.

        The ``phx_close`` that follows stays for :meth:`assert_push`.
        """
        pid = socket.channel_pid(topic)
        ref = self.push(socket, topic, PHX_LEAVE, {})
        reply = await self._take(
            lambda f: f.kind == "reply" and f.ref == ref,
            timeout,
            f"the leave reply for {topic!r} (ref {ref!r})",
        )
        socket.join_refs.pop(topic, None)
        if pid is not None:
            await self.exit_reason(pid, timeout)
        return reply

    async def close(self, socket: TestSocket, timeout: float = 5.0) -> Any:
        """Close the client's side; waits until the connection and its channels
        exited (channels stop with ``("shutdown", "closed")``). Returns the
        connection's exit reason."""
        channels = list(socket.channel_pids().values())
        socket.transport.client_close()
        reason = await self.exit_reason(socket.connection, timeout)
        for pid in channels:
            await self.exit_reason(pid, timeout)
        return reason

    async def exit_reason(self, pid: Pid[Any], timeout: float = 2.0) -> Any:
        """Wait for ``pid`` to exit (or recall that it did) and return its reason.

        Example::

            assert await ct.exit_reason(channel_pid) == ("shutdown", "left")
        """
        if pid not in self.exits:
            reason = await asyncio.wait_for(self.node.wait_exit(pid), timeout)
            return self.exits.get(pid, reason)
        return self.exits[pid]

    # -- outside the channel ------------------------------------------------------
    def subscribe(self, topic: str) -> None:
        """Receive ``topic``'s broadcasts in the test (:meth:`assert_broadcast`)."""
        assert self.probe is not None, "start the case first"
        self.pubsub.subscribe(self.probe.pid, topic)

    def broadcast_from_outside(self, topic: str, event: str, payload: Any) -> int:
        """``Endpoint.broadcast``: reaches every channel on ``topic``."""
        return self.hub.broadcast(topic, event, payload)

    # -- assertions ---------------------------------------------------------------
    async def _take(
        self, match: Callable[[ReceivedFrame], bool], timeout: float, what: str
    ) -> ReceivedFrame:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._changed.clear()
            for i, frame in enumerate(self._inbox):
                if match(frame):
                    del self._inbox[i]
                    return frame
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"expected {what} within {timeout}s; the client got instead: "
                    f"{_describe(self._inbox)}"
                )
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass

    async def assert_reply(
        self, ref: Any, status: Any = "ok", response: Any = ANY, *, timeout: float = 1.0
    ) -> ReceivedFrame:
        """Wait for the reply to ``ref`` with this status and response; returns it.

        Example::

            await ct.assert_reply(ref, "error", {"reason": ANY})
        """
        return await self._take(
            lambda f: (
                f.kind == "reply" and f.ref == ref and status == f.status and response == f.response
            ),
            timeout,
            f"a reply to ref {ref!r} with status {status!r} and response {response!r}",
        )

    @staticmethod
    def _push_match(event: str, payload: Any, topic: str | None, socket: TestSocket | None) -> Any:
        return lambda f: (
            f.kind != "reply"
            and f.event == event
            and payload == f.payload
            and (topic is None or f.topic == topic)
            and (socket is None or f.socket is socket)
        )

    async def assert_push(
        self,
        event: str,
        payload: Any = ANY,
        topic: str | None = None,
        *,
        socket: TestSocket | None = None,
        timeout: float = 1.0,
    ) -> ReceivedFrame:
        """Wait for a frame with ``event`` sent to a client (push, fastlane
        broadcast, phx_close or phx_error); returns it and removes it.

        Example::

            await ct.assert_push("phx_close", {}, topic="room:1")
        """
        where = f" on {topic!r}" if topic else ""
        return await self._take(
            self._push_match(event, payload, topic, socket),
            timeout,
            f"a push {event!r}{where} with payload {payload!r}",
        )

    async def refute_push(
        self,
        event: str,
        payload: Any = ANY,
        topic: str | None = None,
        *,
        socket: TestSocket | None = None,
        timeout: float = 0.1,
    ) -> None:
        """Assert no matching push is queued or arrives within ``timeout``."""
        try:
            frame = await self._take(self._push_match(event, payload, topic, socket), timeout, "")
        except AssertionError:
            return
        raise AssertionError(f"expected no push {event!r}, got: {frame}")

    async def refute_reply(self, ref: Any, *, timeout: float = 0.1) -> None:
        """Assert no reply to ``ref`` is queued or arrives within ``timeout``."""
        try:
            frame = await self._take(lambda f: f.kind == "reply" and f.ref == ref, timeout, "")
        except AssertionError:
            return
        raise AssertionError(f"expected no reply to ref {ref!r}, got: {frame}")

    async def assert_broadcast(
        self, topic: str, event: str, payload: Any = ANY, *, timeout: float = 1.0
    ) -> Broadcast:
        """Wait for a broadcast on ``topic`` (the test must be subscribed,
        e.g. by :meth:`subscribe_and_join`); returns it.

        Example::

            await ct.assert_broadcast("room:1", "new_msg", {"body": "hi"})
        """
        assert self.probe is not None, "start the case first"

        def match(m: Any) -> bool:
            return (
                isinstance(m, Broadcast)
                and m.topic == topic
                and m.event == event
                and payload == m.payload
            )

        try:
            return await self.probe.receive(timeout=timeout, match=match)  # type: ignore[no-any-return]
        except AssertionError:
            raise AssertionError(
                f"expected a broadcast {event!r} on {topic!r} with payload {payload!r} "
                f"within {timeout}s; the test got instead: {_describe(self.probe.queued)}"
            ) from None

    async def refute_broadcast(self, topic: str, event: str, *, timeout: float = 0.1) -> None:
        """Assert no broadcast of ``event`` on ``topic`` reaches the test."""
        assert self.probe is not None, "start the case first"
        await self.probe.refute_receive(
            timeout=timeout,
            match=lambda m: isinstance(m, Broadcast) and m.topic == topic and m.event == event,
        )

    def flush(self) -> list[ReceivedFrame]:
        """Remove and return every frame not yet taken by an assertion."""
        frames, self._inbox = self._inbox, []
        return frames

    @property
    def pending(self) -> list[ReceivedFrame]:
        """Frames received and not yet taken by an assertion, oldest first."""
        return list(self._inbox)


def channel_test(node: Node | None = None, *, presence: bool = True) -> ChannelCase:
    """A :class:`ChannelCase` to use with ``async with``.

    Example::

        async with channel_test() as ct:
            socket = await ct.connect(UserSocket)
    """
    return ChannelCase(node, presence=presence)
