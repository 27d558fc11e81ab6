"""Mount a :class:`~bitnexus.channels.Socket` on an aiohttp application.

Example::

    mount_socket(app, "/socket", UserSocket(), hub, MountOptions(check_origin=("//example.com",)))
    # GET /socket/websocket and /socket/longpoll
"""

from __future__ import annotations

from aiohttp import web

from bitnexus.channels.handshake import MountOptions
from bitnexus.channels.hub import Hub
from bitnexus.channels.longpoll import longpoll_handler
from bitnexus.channels.socket import Socket
from bitnexus.channels.websocket import websocket_handler

__all__ = ["mount_socket"]


def mount_socket(
    app: web.Application, path: str, socket: Socket, hub: Hub, options: MountOptions
) -> None:
    """Add ``{path}/websocket`` (and ``{path}/longpoll``) routes for ``socket``."""
    path = path.rstrip("/")
    if options.websocket:
        app.router.add_route("*", f"{path}/websocket", websocket_handler(socket, hub, options))
    if options.longpoll:
        app.router.add_route(
            "*", f"{path}/longpoll", longpoll_handler(socket, hub, options, mount=path)
        )
