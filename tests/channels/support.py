"""Test sockets and a real server for channel integration tests.

Mirrors the setup of Phoenix's own integration tests (reference §6): a
UserSocket with a RoomChannel on ``room:*``, mounted at ``/ws``,
``/ws/admin``, ``/ws/limited`` (one channel), ``/ws/connect_info`` and
``/ws/timeout`` (200 ms idle timeout), origin check ``["//example.com"]``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import aiohttp
import orjson
from aiohttp import web

from bitnexus.actors import Node
from bitnexus.channels import (
    Channel,
    ChannelSocket,
    Error,
    MountOptions,
    NoReply,
    Ok,
    Refuse,
    Reply,
    Socket,
    SocketState,
    Stop,
    mount_socket,
)
from bitnexus.channels.hub import Hub
from bitnexus.pubsub import PubSub, PubSubServer
from bitnexus.supervision import Application, ChildSpec


@dataclass
class Events:
    """What the test channels did, for assertions: (event, topic, detail)."""

    items: list[tuple[str, str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def add(self, event: str, topic: str, detail: Any = None) -> None:
        self.items.append((event, topic, detail))
        self.changed.set()

    async def wait_for(self, event: str, topic: str | None = None, timeout: float = 2.0) -> Any:
        async def find() -> Any:
            while True:
                for ev, tp, detail in self.items:
                    if ev == event and (topic is None or tp == topic):
                        return detail
                self.changed.clear()
                await self.changed.wait()

        return await asyncio.wait_for(find(), timeout)

    def all(self, event: str, topic: str | None = None) -> list[Any]:
        """Every detail recorded for ``event`` (on ``topic``), oldest first."""
        return [d for ev, tp, d in self.items if ev == event and (topic is None or tp == topic)]


class RoomChannel(Channel):
    intercept = ("new_msg", "bin_ack")

    async def join(self, topic: str, payload: Any, socket: ChannelSocket) -> Any:
        socket.handler.events.add("join", topic, self.pid)
        if topic == "room:crash_on_join":
            raise RuntimeError("join crashed on purpose")
        if topic == "room:refuse":
            return Error({"reason": "unauthorized"})
        socket.assigns["user"] = payload.get("user") if isinstance(payload, dict) else None
        self.pid.send("after_join")
        return Ok({})

    async def handle_info(self, message: Any, socket: ChannelSocket) -> Any:
        if message == "after_join":
            socket.broadcast("user_entered", {"user": socket.assigns.get("user")})
            joined: dict[str, Any] = {
                "status": "connected",
                "user_id": socket.assigns.get("user_id"),
            }
            if socket.handler.expose_connect_info:
                joined["connect_info"] = dict(socket.connect_info)
            socket.push("joined", joined)
        return None

    async def handle_in(self, event: str, payload: Any, socket: ChannelSocket) -> Any:
        if event == "new_msg":
            socket.broadcast("new_msg", payload)
            return Reply("ok", {}) if socket.transport == "websocket" else NoReply()
        if event == "boom":
            raise RuntimeError("boom")
        if event == "binary_event":
            socket.push("binary_event", b"\x00\x01")
            return Reply("ok", bytes(payload) + b"\x03\x04")
        if event == "bin":
            socket.broadcast("bin_ack", {"size": len(payload)})
            return NoReply()
        if event == "echo":
            return Reply("ok", {"payload": payload})
        return Reply("error", {"reason": f"unknown {event}"})

    async def handle_out(self, event: str, payload: Any, socket: ChannelSocket) -> Any:
        socket.push(event, {**payload, "transport": f":{socket.transport}"})
        return None

    async def terminate(self, reason: Any, socket: ChannelSocket) -> None:
        socket.handler.events.add("terminate", socket.topic, reason)
        if socket.transport == "websocket":
            socket.push("you_left", {"message": "bye!"})


class CustomChannel(Channel):
    """Stands in for Phoenix's custom (non-Phoenix.Channel) channel of case 27."""

    async def join(self, topic: str, payload: Any, socket: ChannelSocket) -> Any:
        if topic == "custom:ignore":
            return Error({"action": "ignore"})
        if topic == "custom:error":
            raise RuntimeError("custom join crashed on purpose")
        return Ok({"action": "ok"})

    async def handle_in(self, event: str, payload: Any, socket: ChannelSocket) -> Any:
        if event == "close":
            return Stop("normal")
        return Reply("error", {"reason": f"unknown {event}"})


class UserSocket(Socket):
    channels = [("room:*", RoomChannel), ("custom:*", CustomChannel)]
    expose_connect_info = False

    def __init__(self, events: Events) -> None:
        self.events = events

    async def connect(self, params: dict[str, Any], connect_info: dict[str, Any]) -> Any:
        self.events.add("connect", "", params)
        if params.get("reject") == "true":
            return Refuse(403)
        if params.get("ratelimit") == "true":
            return Refuse(429, "rate_limit")
        if params.get("custom_error") == "true":
            return Refuse(403, "custom")
        return {"user_id": params.get("user_id")}

    def id(self, socket: SocketState) -> str | None:
        user_id = socket.assigns.get("user_id")
        return f"user_sockets:{user_id}" if user_id else None


class ConnectInfoSocket(UserSocket):
    expose_connect_info = True


@dataclass
class TestServer:
    __test__ = False  # not a pytest test class, even when imported into a test module

    url: str
    hub: Hub
    node: Node
    events: Events

    def ws_url(self, path: str = "/ws", query: str = "vsn=2.0.0") -> str:
        return self.url.replace("http://", "ws://") + f"{path}/websocket?{query}"


@contextlib.asynccontextmanager
async def running_server(**option_overrides: Any) -> AsyncIterator[TestServer]:
    """Start a real aiohttp server on 127.0.0.1 with the test mounts."""
    node = Node()
    pubsub = PubSub(node)
    hub = Hub(node, pubsub)
    children = [ChildSpec.for_actor(PubSubServer, pubsub, id="pubsub")]
    children += hub.attach_presence()
    children += hub.child_specs()
    application = Application(children, node=node, shutdown_timeout=5.0)
    events = Events()
    base: dict[str, Any] = {
        "check_origin": ("//example.com",),
        "idle_timeout": 60.0,
        "longpoll_window": 0.2,
        "longpoll_pubsub_timeout": 0.2,
        "secret": b"x" * 32,
    }
    base.update(option_overrides)
    app = web.Application()
    mount_socket(app, "/ws", UserSocket(events), hub, MountOptions(**base))
    mount_socket(app, "/ws/admin", UserSocket(events), hub, MountOptions(**base))
    limited = MountOptions(**{**base, "max_channels": 1})
    mount_socket(app, "/ws/limited", UserSocket(events), hub, limited)
    mount_socket(app, "/ws/connect_info", ConnectInfoSocket(events), hub, MountOptions(**base))
    timeout = MountOptions(**{**base, "idle_timeout": 0.2})
    mount_socket(app, "/ws/timeout", UserSocket(events), hub, timeout)
    await application.start()
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield TestServer(f"http://127.0.0.1:{port}", hub, node, events)
    finally:
        await runner.cleanup()
        await application.stop()


class WSClient:
    """A tiny V2/V1 client: send frames as lists/dicts, receive decoded frames."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def send(self, frame: Any) -> None:
        await self.ws.send_str(orjson.dumps(frame).decode())

    async def send_binary(self, data: bytes) -> None:
        await self.ws.send_bytes(data)

    async def recv(self, timeout: float = 2.0) -> Any:
        msg = await self.ws.receive(timeout=timeout)
        if msg.type is aiohttp.WSMsgType.TEXT:
            return orjson.loads(msg.data)
        if msg.type is aiohttp.WSMsgType.BINARY:
            return bytes(msg.data)
        raise AssertionError(
            f"expected a frame, got {msg.type} {msg.data!r} (close code {self.ws.close_code})"
        )

    async def recv_until(self, predicate: Any, timeout: float = 2.0) -> Any:
        """Skip frames until one matches ``predicate``; return it."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - asyncio.get_running_loop().time()))
            if predicate(frame):
                return frame

    async def closed(self, timeout: float = 2.0) -> int | None:
        """Wait for the server to close; return the close code.

        That is the code of the server's Close frame, as a browser reports it:
        aiohttp's ``close_code`` says 1006 when the server drops TCP before
        our Close reply went out, although its Close frame arrived.
        """
        msg = await self.ws.receive(timeout=timeout)
        while msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            msg = await self.ws.receive(timeout=timeout)
        if msg.type is aiohttp.WSMsgType.CLOSE:
            return int(msg.data)
        return self.ws.close_code


@contextlib.asynccontextmanager
async def ws_client(url: str, **kwargs: Any) -> AsyncIterator[WSClient]:
    async with aiohttp.ClientSession() as session, session.ws_connect(url, **kwargs) as ws:
        yield WSClient(ws)


# --- a Phoenix-style test client (reference §6: refs from 1, join_refs from 11) ---


class PhxFrame(NamedTuple):
    """A server frame, normalised: V1 frames have no join_ref (None)."""

    join_ref: Any
    ref: Any
    topic: str
    event: str
    payload: Any


@dataclass(frozen=True)
class Proto:
    """One serializer as the test client speaks it."""

    name: str
    query: str

    @property
    def v2(self) -> bool:
        return self.name == "V2"

    def jr(self, join_ref: Any) -> Any:
        """The join_ref a server frame shows for ``join_ref``: V1 frames never carry one."""
        return join_ref if self.v2 else None

    def encode(self, join_ref: Any, ref: Any, topic: str, event: str, payload: Any) -> Any:
        if self.v2:
            return [join_ref, ref, topic, event, payload]
        frame = {"topic": topic, "event": event, "payload": payload, "ref": ref}
        if join_ref is not None:
            frame["join_ref"] = join_ref
        return frame

    def decode(self, frame: Any) -> PhxFrame:
        if self.v2:
            assert isinstance(frame, list) and len(frame) == 5, frame
            return PhxFrame(*frame)
        assert isinstance(frame, dict), frame
        assert set(frame) == {"topic", "event", "payload", "ref"}, frame
        return PhxFrame(None, frame["ref"], frame["topic"], frame["event"], frame["payload"])


V1 = Proto("V1", "vsn=1.0.0")
V2 = Proto("V2", "vsn=2.0.0")
_EMPTY: Any = object()  # "no payload given": None is a payload too (JSON null)


class PhxClient:
    """Numbers refs and join_refs like Phoenix's WebsocketClient; V1 sends no join_ref."""

    def __init__(self, ws: WSClient, proto: Proto) -> None:
        self.ws = ws
        self.proto = proto
        self._ref = 0
        self._join_ref = 10

    def next_ref(self) -> str:
        self._ref += 1
        return str(self._ref)

    async def send(
        self, topic: str, event: str, payload: Any = _EMPTY, join_ref: Any = None
    ) -> str:
        """Send one message (payload ``{}`` unless given); returns its ref."""
        ref = self.next_ref()
        body = {} if payload is _EMPTY else payload
        await self.ws.send(self.proto.encode(join_ref, ref, topic, event, body))
        return ref

    async def join(self, topic: str, payload: Any = _EMPTY) -> tuple[Any, str]:
        """Send phx_join; returns (join_ref as the server will echo it, ref)."""
        self._join_ref += 1
        join_ref = str(self._join_ref) if self.proto.v2 else None
        ref = await self.send(topic, "phx_join", payload, join_ref)
        return join_ref, ref

    async def recv(self, timeout: float = 2.0) -> PhxFrame:
        return self.proto.decode(await self.ws.recv(timeout))

    async def recv_until(self, predicate: Any, timeout: float = 2.0) -> PhxFrame:
        decode = self.proto.decode
        return decode(await self.ws.recv_until(lambda f: predicate(decode(f)), timeout))

    async def joined(self, topic: str, payload: Any = _EMPTY) -> Any:
        """Join, expect the ok reply, user_entered and joined; returns the join_ref."""
        join_ref, ref = await self.join(topic, payload)
        frames = [await self.recv() for _ in range(3)]
        ok = {"status": "ok", "response": {}}
        assert frames[0] == (join_ref, ref, topic, "phx_reply", ok), frames
        assert {f.event for f in frames[1:]} == {"user_entered", "joined"}, frames
        return join_ref

    async def heartbeat(self) -> None:
        """A heartbeat must be answered (S5); fails otherwise."""
        ref = await self.send("phoenix", "heartbeat")
        reply = await self.recv_until(lambda f: f.topic == "phoenix")
        assert reply == (None, ref, "phoenix", "phx_reply", {"status": "ok", "response": {}}), reply


@contextlib.asynccontextmanager
async def phx_client(
    server: TestServer, proto: Proto, path: str = "/ws", query: str = "", **kwargs: Any
) -> AsyncIterator[PhxClient]:
    """A :class:`PhxClient` connected to ``path`` with the serializer's vsn (plus ``query``)."""
    url = server.ws_url(path, "&".join(q for q in (query, proto.query) if q))
    async with ws_client(url, **kwargs) as ws:
        yield PhxClient(ws, proto)
