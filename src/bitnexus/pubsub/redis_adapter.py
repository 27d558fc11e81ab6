"""The Redis PubSub adapter: broadcasts between nodes that share one Redis.

Like every adapter it only handles *other* nodes (STYLE habit 17): the core
has already delivered a broadcast locally when :meth:`RedisAdapter.publish`
runs, and inbound messages are handed to ``pubsub.local_broadcast``.

How it travels:

- **One Redis channel**, ``f"{channel_prefix}:pubsub"``, carries every topic;
  the topic is inside the message. Each node holds one subscription however
  many topics it has, and there is no SUBSCRIBE/UNSUBSCRIBE traffic as
  channels come and go. Every node receives every broadcast and drops those
  with no local subscriber (a registry lookup): fine for a handful of nodes.
  Redis PubSub ignores the database number, so deployments sharing one Redis
  server need distinct ``channel_prefix`` values.
- **JSON on the wire** (orjson): ``{"v": 1, "n": node, "t": topic, "m": msg}``.
  The sender's node name ``n`` lets a node skip its own messages (Redis echoes
  them back; local subscribers already have them). A message must be a JSON
  value (tuples arrive as lists), or an instance of a type registered in
  ``message_types``: a dataclass travelling as ``"k": tag`` plus its fields,
  ``bytes`` fields in base64 and listed under ``"b"``. Anything else is
  dropped with a logged error; :meth:`~RedisAdapter.publish` never raises.
- **``from_pid`` stays home**: pids mean nothing on another node, so
  ``broadcast_from``'s exclusion applies on the origin node only (as in Phoenix).
- **Never waits**: ``publish`` encodes and puts the bytes on a bounded queue;
  a writer task sends them (pipelined in batches). When the queue is full the
  message is dropped, counted and logged once per overload. If Redis goes
  away both tasks reconnect with exponential backoff, the outage is logged
  once, and broadcasts queue up to the bound meanwhile. Redis PubSub is
  at-most-once: what other nodes publish during an outage is lost here.

Why a type table rather than importing ``bitnexus.channels``: pubsub sits
below channels, so it may not know channel messages. Whoever composes the two
(``bitnexus.server.build_server``) says which types travel, e.g.
``message_types={"broadcast": Broadcast}``; the adapter only needs them to be
dataclasses.

Example::

    adapter = RedisAdapter("redis://127.0.0.1:6379/0", message_types={"broadcast": Broadcast})
    pubsub = PubSub(node, adapter=adapter)
    children = [ChildSpec.for_actor(PubSubServer, pubsub, id="pubsub")]
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import redis.asyncio as aioredis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from bitnexus.exceptions import ConfigError, Misuse
from bitnexus.pubsub.adapter import Adapter

if TYPE_CHECKING:
    from bitnexus.actors import Pid
    from bitnexus.pubsub.core import PubSub

__all__ = ["RedisAdapter", "RedisAdapterStatistics"]

_log = logging.getLogger("bitnexus.pubsub.redis")

_VERSION = 1
_BINARY = (bytes, bytearray, memoryview)
_BACKOFF_MIN = 0.05
_BACKOFF_MAX = 5.0
_BATCH = 256
_POLL = 1.0
"""Seconds the reader waits for a message before checking its connection."""
_HEALTH_CHECK = 15
"""Seconds of silence after which the subscription PINGs (finds dead peers)."""
_CONNECTION_ERRORS = (RedisError, OSError)


@dataclass(frozen=True, slots=True)
class RedisAdapterStatistics:
    """A snapshot of one adapter's counters (for the admin view and tests)."""

    node_name: str
    connected: bool
    """The subscription is up (inbound broadcasts arrive)."""
    queued: int
    """Encoded broadcasts waiting for the writer."""
    published: int
    received: int
    """Messages from other nodes handed to ``local_broadcast``."""
    dropped: int
    """Broadcasts dropped because the queue was full (or the adapter stopped)."""
    rejected: int
    """Broadcasts that could not be encoded (not JSON, unknown type)."""
    undecodable: int
    """Inbound messages that could not be decoded (garbage, unknown type)."""
    outages: int


class RedisAdapter(Adapter):
    """Carries broadcasts to and from the other nodes through Redis PubSub.

    Args:
        url: ``redis://``, ``rediss://`` or ``unix://`` URL.
        node_name: this node's name on the wire; defaults to
            ``host:pid:random`` (unique per adapter, so two nodes in one
            process, as in tests, still tell each other apart).
        channel_prefix: the Redis channel is ``f"{channel_prefix}:pubsub"``.
        message_types: ``{tag: dataclass}`` of non-JSON messages that may
            travel, e.g. ``{"broadcast": Broadcast}``. Tags must agree on
            every node.
        max_queue: broadcasts held while Redis is slow or away; more are dropped.
        connect_timeout: how long :meth:`start` waits for the first
            subscription before carrying on (it keeps trying in the background).

    Raises:
        ConfigError: the URL cannot be parsed.
        Misuse: a ``message_types`` entry is not a dataclass, or an option is out of range.

    Example::

        adapter = RedisAdapter(settings.redis.url, message_types={"broadcast": Broadcast})
        await adapter.start(pubsub)
        adapter.publish("room:1", Broadcast("room:1", "shout", {}), None)
        await adapter.stop()
    """

    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        node_name: str | None = None,
        channel_prefix: str = "bitnexus",
        message_types: Mapping[str, type] | None = None,
        max_queue: int = 10_000,
        connect_timeout: float = 2.0,
    ) -> None:
        try:
            aioredis.ConnectionPool.from_url(url)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"redis url {_safe_url(url)!r} is not usable: {exc}") from None
        if max_queue < 1 or connect_timeout <= 0:
            raise Misuse("max_queue must be >= 1 and connect_timeout > 0")
        self.url = url
        self.node_name = node_name or _generated_name()
        self.channel = f"{channel_prefix}:pubsub"
        self.max_queue = max_queue
        self.connect_timeout = connect_timeout
        self._tags: dict[type, tuple[str, tuple[str, ...]]] = {}
        self._classes: dict[str, type] = {}
        for tag, cls in (message_types or {}).items():
            if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
                raise Misuse(f"message_types[{tag!r}] must be a dataclass, got {cls!r}")
            self._tags[cls] = (tag, tuple(f.name for f in dataclasses.fields(cls)))
            self._classes[tag] = cls
        # orjson writes keys in insertion order, so every message this node
        # sends starts with these bytes: its echoes are skipped unparsed.
        self._own_prefix = b'{"v":%d,"n":%s,' % (_VERSION, orjson.dumps(self.node_name))
        self._state = "new"
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(max_queue)
        self._pubsub: PubSub | None = None
        self._client: aioredis.Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self._sending = 0
        self._outage_since: float | None = None
        self._logged: set[Any] = set()
        self._published = self._received = self._dropped = 0
        self._rejected = self._undecodable = self._outages = 0

    # -- lifecycle ------------------------------------------------------------------

    async def start(self, pubsub: PubSub) -> None:
        """Connect, subscribe and start relaying; waits up to ``connect_timeout``
        for the subscription, then carries on and keeps retrying in the background."""
        if self._state == "running":
            # Our owner was killed without running terminate; start afresh.
            await self.stop()
        self._pubsub = pubsub
        self._state = "running"
        self._logged.clear()
        self._subscribed = asyncio.Event()
        self._client = aioredis.Redis.from_url(
            self.url,
            # One quick retry covers a pooled connection Redis dropped while
            # idle; longer outages are ours to handle, with backoff and one log.
            retry=Retry(NoBackoff(), 1),
            socket_connect_timeout=self.connect_timeout,
            socket_timeout=10.0,
            health_check_interval=_HEALTH_CHECK,
            client_name=f"bitnexus:{self.node_name}",
        )
        self._tasks = [
            asyncio.create_task(self._read_loop(), name=f"redis-pubsub-reader {self.node_name}"),
            asyncio.create_task(self._write_loop(), name=f"redis-pubsub-writer {self.node_name}"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), self.connect_timeout)

    async def stop(self, *, flush_timeout: float = 1.0) -> None:
        """Send what is queued (up to ``flush_timeout`` seconds, if connected),
        then stop both tasks and close the connections. Later publishes are dropped."""
        if self._state != "running":
            self._state = "stopped"
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + flush_timeout
        while (
            (self._sending or not self._queue.empty())
            and self._outage_since is None
            and loop.time() < deadline
        ):
            await asyncio.sleep(0.01)
        self._state = "stopped"
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        # Shielded so a cancelled stop still leaves no task or socket behind.
        await asyncio.shield(self._close(tasks, self._client))
        self._client = None
        self._subscribed.clear()
        self._sending = 0
        while not self._queue.empty():
            self._queue.get_nowait()
            self._dropped += 1

    @staticmethod
    async def _close(tasks: list[asyncio.Task[None]], client: aioredis.Redis | None) -> None:
        await asyncio.gather(*tasks, return_exceptions=True)
        if client is not None:
            with contextlib.suppress(*_CONNECTION_ERRORS):
                await client.aclose()

    @property
    def connected(self) -> bool:
        """True while the subscription is up (inbound broadcasts arrive)."""
        return self._subscribed.is_set()

    def statistics(self) -> RedisAdapterStatistics:
        """A snapshot of the counters."""
        return RedisAdapterStatistics(
            node_name=self.node_name,
            connected=self.connected,
            queued=self._queue.qsize() + self._sending,
            published=self._published,
            received=self._received,
            dropped=self._dropped,
            rejected=self._rejected,
            undecodable=self._undecodable,
            outages=self._outages,
        )

    # -- outbound -------------------------------------------------------------------

    def publish(self, topic: str, message: Any, from_pid: Pid[Any] | None) -> None:
        """Queue ``message`` for the other nodes. Never waits, never raises."""
        if self._state == "stopped":
            self._dropped += 1
            return
        try:
            data = self._encode(topic, message)
        except Exception as exc:
            self._rejected += 1
            self._log_once(
                ("rejected", type(message)),
                logging.ERROR,
                "broadcast on %r not sent to other nodes: %s message is not "
                "JSON-serializable and not in message_types (%s); further drops of "
                "this type are only counted",
                topic,
                type(message).__name__,
                exc,
            )
            return
        try:
            self._queue.put_nowait(data)
        except asyncio.QueueFull:
            self._dropped += 1
            self._log_once(
                "overflow",
                logging.ERROR,
                "redis outbound queue full (%d broadcasts): dropping broadcasts to other "
                "nodes until it drains",
                self.max_queue,
            )

    def _encode(self, topic: str, message: Any) -> bytes:
        known = self._tags.get(type(message))
        if known is None:
            body: dict[str, Any] = {"v": _VERSION, "n": self.node_name, "t": topic, "m": message}
        else:
            tag, names = known
            fields: dict[str, Any] = {}
            binary: list[str] = []
            for name in names:
                value = getattr(message, name)
                if isinstance(value, _BINARY):
                    value = base64.b64encode(value).decode("ascii")
                    binary.append(name)
                fields[name] = value
            body = {"v": _VERSION, "n": self.node_name, "t": topic, "k": tag, "m": fields}
            if binary:
                body["b"] = binary
        # Passthrough: an unregistered dataclass would otherwise arrive as a
        # plain dict on the other nodes, a different message from the one sent.
        return orjson.dumps(body, option=orjson.OPT_PASSTHROUGH_DATACLASS)

    async def _write_loop(self) -> None:
        batch: list[bytes] = []
        backoff = _BACKOFF_MIN
        while True:
            if not batch:
                batch.append(await self._queue.get())
                while len(batch) < _BATCH and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                self._sending = len(batch)
            try:
                await self._send(batch)
            except _CONNECTION_ERRORS as exc:
                # The batch is kept and sent again: nothing reached Redis when
                # the connection failed, except in a rare mid-pipeline drop.
                self._went_down(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _BACKOFF_MAX)
                continue
            self._published += len(batch)
            batch = []
            self._sending = 0
            backoff = _BACKOFF_MIN
            self._came_back()
            self._logged.discard("overflow")

    async def _send(self, batch: list[bytes]) -> None:
        assert self._client is not None
        if len(batch) == 1:
            await self._client.publish(self.channel, batch[0])
            return
        async with self._client.pipeline(transaction=False) as pipe:
            for data in batch:
                pipe.publish(self.channel, data)
            await pipe.execute()

    # -- inbound --------------------------------------------------------------------

    async def _read_loop(self) -> None:
        assert self._client is not None
        backoff = _BACKOFF_MIN
        while True:
            subscription = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await subscription.subscribe(self.channel)
                self._subscribed.set()
                self._came_back()
                backoff = _BACKOFF_MIN
                while True:
                    message = await subscription.get_message(
                        ignore_subscribe_messages=True, timeout=_POLL
                    )
                    if message is not None and message["type"] == "message":
                        self._receive(message["data"])
            except _CONNECTION_ERRORS as exc:
                self._subscribed.clear()
                self._went_down(exc)
            finally:
                with contextlib.suppress(*_CONNECTION_ERRORS):
                    await subscription.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX)

    def _receive(self, data: bytes) -> None:
        if data.startswith(self._own_prefix):
            return
        try:
            topic, message = self._decode(data)
        except Exception as exc:
            self._undecodable += 1
            self._log_once(
                ("undecodable", str(exc)[:60]),
                logging.WARNING,
                "ignored a message on redis channel %r that this node cannot decode: %s",
                self.channel,
                exc,
            )
            return
        self._received += 1
        assert self._pubsub is not None
        try:
            self._pubsub.local_broadcast(topic, message)
        except Exception:
            # The reader must outlive any one bad delivery.
            _log.exception("delivering a broadcast from another node on %r failed", topic)

    def _decode(self, data: bytes) -> tuple[str, Any]:
        body = orjson.loads(data)
        if not isinstance(body, dict) or body.get("v") != _VERSION:
            raise ValueError(f"not a version {_VERSION} message")
        topic = body["t"]
        if not isinstance(topic, str):
            raise ValueError("the topic is not a string")
        tag = body.get("k")
        if tag is None:
            return topic, body["m"]
        cls = self._classes.get(tag)
        if cls is None:
            raise ValueError(f"message type {tag!r} is not in this node's message_types")
        fields = body["m"]
        for name in body.get("b", ()):
            fields[name] = base64.b64decode(fields[name], validate=True)
        return topic, cls(**fields)

    # -- outages and logging --------------------------------------------------------

    def _went_down(self, exc: BaseException) -> None:
        if self._outage_since is not None:
            return
        self._outage_since = asyncio.get_running_loop().time()
        self._outages += 1
        _log.warning(
            "redis at %s unreachable (%s: %s); node %s delivers locally only and queues "
            "up to %d broadcasts while reconnecting",
            _safe_url(self.url),
            type(exc).__name__,
            exc,
            self.node_name,
            self.max_queue,
        )

    def _came_back(self) -> None:
        if self._outage_since is None:
            return
        down_for = asyncio.get_running_loop().time() - self._outage_since
        self._outage_since = None
        _log.info("redis at %s reachable again after %.1fs", _safe_url(self.url), down_for)

    def _log_once(self, key: Any, level: int, msg: str, *args: Any) -> None:
        if key in self._logged:
            return
        self._logged.add(key)
        _log.log(level, msg, *args)


def _generated_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def _safe_url(url: str) -> str:
    """``url`` without its password, for logs and errors."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rpartition("@")[2]
        user = f"{parts.username}:***@" if parts.username else ":***@"
        return urlunsplit(parts._replace(netloc=user + netloc))
    except ValueError:
        return "<unparsable url>"
