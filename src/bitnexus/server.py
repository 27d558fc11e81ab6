"""The composition root: one function that builds the whole server from
settings — node, PubSub, the application supervision tree, socket mounts,
and (as they land) the HTTP API and the admin endpoint.

Example::

    app = build_server(load_settings("dev"))
    run(settings, app)
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiohttp import web

from bitnexus.actors import Node
from bitnexus.admin import install_admin
from bitnexus.channels.handshake import MountOptions
from bitnexus.channels.hub import Hub
from bitnexus.channels.mount import mount_socket
from bitnexus.channels.protocol import Broadcast
from bitnexus.config import Settings
from bitnexus.platform import attach_platform
from bitnexus.pubsub import PubSub, PubSubServer
from bitnexus.pubsub.redis_adapter import RedisAdapter
from bitnexus.supervision import Application, ChildSpec
from bitnexus.web.endpoint import add_component, build_app
from bitnexus.web.keys import APPLICATION_KEY, HUB_KEY, NODE_KEY

__all__ = ["build_server", "drain_connections", "mount_options"]

_log = logging.getLogger("bitnexus.server")


def mount_options(settings: Settings, **overrides: Any) -> MountOptions:
    """Socket mount options from ``settings.socket`` (plus overrides)."""
    sock = settings.socket
    secret = hashlib.sha256(("longpoll:" + settings.auth.secret_key_base).encode()).digest()
    values: dict[str, Any] = {
        "check_origin": tuple(sock.check_origin) if sock.check_origin else False,
        "url_host": settings.server.url_host,
        "max_frame_size": sock.max_frame_size,
        "idle_timeout": sock.idle_timeout,
        "max_channels": sock.max_channels,
        "longpoll_window": sock.longpoll_window,
        "longpoll_pubsub_timeout": sock.longpoll_pubsub_timeout,
        "secret": secret,
    }
    values.update(overrides)
    return MountOptions(**values)


def build_server(
    settings: Settings,
    *,
    node: Node | None = None,
    extra_children: Sequence[ChildSpec] = (),
) -> web.Application:
    """Build the aiohttp application with the runtime and every mount."""
    app = build_app(settings)
    node = node if node is not None else Node()
    # With a Redis URL, broadcasts reach the other nodes too; the node name
    # on the wire is generated (host:pid:random), unique per server.
    adapter = (
        RedisAdapter(settings.redis.url, message_types={"broadcast": Broadcast})
        if settings.redis.url
        else None
    )
    pubsub = PubSub(node, adapter=adapter)
    hub = Hub(node, pubsub)
    children: list[ChildSpec] = [
        ChildSpec.for_actor(PubSubServer, pubsub, id="pubsub", name="bitnexus.pubsub"),
        *hub.attach_presence(),
        *hub.child_specs(),
        *attach_platform(app, settings, hub),
        *install_admin(app, node, pubsub, settings),
        *extra_children,
    ]
    application = Application(
        children,
        node=node,
        max_restarts=settings.runtime.max_restarts,
        max_seconds=settings.runtime.max_seconds,
        shutdown_timeout=settings.server.shutdown_timeout,
    )
    app[NODE_KEY] = node
    app[HUB_KEY] = hub
    app[APPLICATION_KEY] = application
    add_component(app, _runtime_component)
    app.on_shutdown.append(_drain)
    if settings.demo.enabled:
        from bitnexus.demo import DemoSocket

        mount_socket(
            app, "/demo/socket", DemoSocket(), hub, mount_options(settings, check_origin=False)
        )
    return app


async def _runtime_component(app: web.Application) -> AsyncIterator[None]:
    application = app[APPLICATION_KEY]
    await application.start()
    _log.info("supervision tree started")
    yield
    await application.stop()


async def drain_connections(hub: Hub, timeout: float) -> int:
    """Close every connection with 1012 (S48) and wait up to ``timeout`` for them to go."""
    pids = hub.connection_pids()
    for index, pid in enumerate(pids):
        pid.cast("drain")
        if index % 10_000 == 9_999:
            await asyncio.sleep(0)
    deadline = asyncio.get_running_loop().time() + timeout
    while hub.connection_pids() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    return len(pids)


async def _drain(app: web.Application) -> None:
    hub = app.get(HUB_KEY)
    if hub is not None and app[APPLICATION_KEY].running:
        count = await drain_connections(hub, timeout=5.0)
        if count:
            _log.info("drained %d connections", count)
