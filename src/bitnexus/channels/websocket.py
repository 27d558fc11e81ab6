"""The WebSocket transport: ``GET {mount}/websocket``.

Every check runs before the upgrade so refusals are HTTP statuses (§1.2):
method (400), origin (403), the ``authToken`` subprotocol and the subprotocol
list (403), ``vsn`` (403), ``connect`` (403 or its own status, e.g. 429), and
only then the upgrade headers (400). After the upgrade one reader loop decodes
frames and casts them to the connection process.

Close codes: 1009 frame too big, 1011 undecodable frame or server error, 1001
disconnect by socket id, 1012 drain on shutdown, 1002 idle timeout.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import WSMsgType, web

from bitnexus.actors import shutdown_reason
from bitnexus.auth.tokens import TokenError, remaining_subprotocols, token_from_subprotocol
from bitnexus.channels.connection import Connection, ConnectionOptions, Routes
from bitnexus.channels.handshake import MountOptions, handshake
from bitnexus.channels.hub import Hub
from bitnexus.channels.idle import IdleSweeper
from bitnexus.channels.socket import Refuse, Socket
from bitnexus.channels.transport import WebSocketHandle
from bitnexus.exceptions import ProtocolError, Refused
from bitnexus.supervision import DynamicSupervisor

__all__ = ["CLOSE_IDLE", "websocket_handler"]

_log = logging.getLogger("bitnexus.channels")
CLOSE_IDLE = 1002
CLOSE_PROTOCOL_ERROR = 1011
SUBPROTOCOL = "phoenix"
BAD_FRAME_EXIT = shutdown_reason("protocol_error")
"""Exit reason of a connection closed for an undecodable frame, and of its channels."""


def _subprotocols(request: web.Request) -> tuple[str | None, list[str], bool]:
    """(auth token, offered protocols, ok) from Sec-WebSocket-Protocol (§1.4, S7)."""
    header = request.headers.get("Sec-WebSocket-Protocol")
    if header is None:
        return None, [], True
    try:
        token = token_from_subprotocol(header)
    except TokenError:
        return None, [], False
    offered = remaining_subprotocols(header)
    if offered and SUBPROTOCOL not in offered:
        return token, offered, False
    return token, offered, True


def websocket_handler(socket: Socket, hub: Hub, options: MountOptions) -> Any:
    """Build the aiohttp handler for one mount."""
    conn_options = ConnectionOptions(
        max_channels=options.max_channels, join_timeout=options.join_timeout
    )
    sweeper = IdleSweeper(options.idle_timeout, CLOSE_IDLE)

    # This coroutine lives as long as its connection, so at 10,000s of
    # sockets every local it keeps costs: the reader loop is inline (one
    # frame, not two) and what only the handshake needs is dropped.
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.method != "GET":
            return web.Response(status=400)
        token, offered, ok = _subprotocols(request)
        if not ok:
            return web.Response(status=403)
        outcome = await handshake(request, socket, options, transport="websocket", auth_token=token)
        if isinstance(outcome, Refuse):
            return web.Response(status=outcome.status)
        ws = web.WebSocketResponse(
            protocols=(SUBPROTOCOL,) if offered else (),
            max_msg_size=options.max_frame_size,
            autoping=True,
            compress=False,  # identical frame bytes for every subscriber (fastlane)
        )
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="'connection' header must contain 'upgrade'")
        await ws.prepare(request)
        handle = WebSocketHandle(request.transport, outcome.serializer, ws)  # type: ignore[arg-type]
        routes = Routes()
        try:
            conn = await DynamicSupervisor.start_temporary(
                hub.connections_sup,
                Connection,
                socket=socket,
                assigns=outcome.assigns,
                socket_id=outcome.socket_id,
                transport=handle,
                hub=hub,
                connect_info=outcome.connect_info,
                options=conn_options,
                routes=routes,
            )
        except Refused:
            _log.exception("could not start a connection process")
            await ws.close(code=CLOSE_PROTOCOL_ERROR, message=b"server error")
            return ws
        assert conn is not None
        decode = outcome.serializer.decode
        del outcome, token, offered
        loop = asyncio.get_running_loop()
        sweeper.watch(handle)
        try:
            while True:
                msg = await ws.receive()
                kind = msg.type
                if kind is WSMsgType.TEXT:
                    opcode = "text"
                elif kind is WSMsgType.BINARY:
                    opcode = "binary"
                else:
                    break  # CLOSE, CLOSING, CLOSED, ERROR (1009 already sent by aiohttp)
                handle.last_seen = loop.time()
                try:
                    message = decode(msg.data, opcode=opcode)
                except ProtocolError as exc:
                    _log.warning("closing connection %s: %s", conn, exc)  # S43
                    handle.close(CLOSE_PROTOCOL_ERROR, "bad frame")
                    # S41: the connection exits for this reason, and so do its
                    # channels (terminate sees it), not as after a client close.
                    conn.cast(("close", CLOSE_PROTOCOL_ERROR, "bad frame", BAD_FRAME_EXIT))
                    break
                # Frames the connection need not see skip its mailbox (Routes),
                # unless it is closing the socket: then nothing reaches channels.
                if routes.backlog or handle.closed or not routes.route(message, handle):
                    routes.backlog += 1
                    conn.cast(message)
        finally:
            sweeper.forget(handle)
            conn.cast("transport_closed")
            if not ws.closed and not handle.closed:
                await ws.close()
        if handle.closing is not None:
            # aiohttp closes with 1000 once the handler returns; our code must go first.
            await asyncio.gather(handle.closing, return_exceptions=True)
        return ws

    return handler
