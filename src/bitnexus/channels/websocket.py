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

from bitnexus.auth.tokens import TokenError, remaining_subprotocols, token_from_subprotocol
from bitnexus.channels.connection import Connection, ConnectionOptions
from bitnexus.channels.handshake import MountOptions, handshake
from bitnexus.channels.hub import Hub
from bitnexus.channels.socket import Refuse, Socket
from bitnexus.channels.transport import WebSocketHandle
from bitnexus.exceptions import ProtocolError, Refused
from bitnexus.supervision import ChildSpec, DynamicSupervisor, Restart

__all__ = ["CLOSE_IDLE", "websocket_handler"]

_log = logging.getLogger("bitnexus.channels")
CLOSE_IDLE = 1002
CLOSE_PROTOCOL_ERROR = 1011
SUBPROTOCOL = "phoenix"


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
        ready = ws.can_prepare(request)
        if not ready.ok:
            return web.Response(status=400, text="'connection' header must contain 'upgrade'")
        await ws.prepare(request)
        loop = asyncio.get_running_loop()
        transport = request.transport
        assert transport is not None

        closing: list[asyncio.Task[Any]] = []

        def closer(code: int, reason: str) -> None:
            if not ws.closed:
                closing.append(loop.create_task(ws.close(code=code, message=reason.encode()[:120])))

        handle = WebSocketHandle(transport, outcome.serializer, closer)  # type: ignore[arg-type]
        spec = ChildSpec.for_actor(
            Connection,
            id="connection",
            restart=Restart.TEMPORARY,
            socket=socket,
            assigns=outcome.assigns,
            socket_id=outcome.socket_id,
            transport=handle,
            hub=hub,
            connect_info=outcome.connect_info,
            options=conn_options,
        )
        try:
            conn = await DynamicSupervisor.start_child(hub.connections_sup, spec)
        except Refused:
            _log.exception("could not start a connection process")
            await ws.close(code=CLOSE_PROTOCOL_ERROR, message=b"server error")
            return ws
        assert conn is not None
        await _pump(ws, conn, handle, outcome.serializer, options.idle_timeout, loop)
        if closing:
            # aiohttp closes with 1000 once the handler returns; our code must go first.
            await asyncio.gather(*closing, return_exceptions=True)
        return ws

    return handler


async def _pump(
    ws: web.WebSocketResponse,
    conn: Any,
    handle: WebSocketHandle,
    serializer: Any,
    idle_timeout: float,
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Read frames until the socket closes; the connection process does the rest."""
    last_seen = loop.time()
    timer: asyncio.TimerHandle | None = None

    def check_idle() -> None:
        nonlocal timer
        idle = loop.time() - last_seen
        if idle >= idle_timeout:
            handle.close(CLOSE_IDLE, "idle timeout")
            return
        timer = loop.call_later(idle_timeout - idle, check_idle)

    # One timer per connection instead of a timeout around every receive.
    timer = loop.call_later(idle_timeout, check_idle)
    decode = serializer.decode
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
            last_seen = loop.time()
            try:
                message = decode(msg.data, opcode=opcode)
            except ProtocolError as exc:
                _log.warning("closing connection %s: %s", conn, exc)  # S43
                handle.close(CLOSE_PROTOCOL_ERROR, "bad frame")
                break
            conn.cast(message)
    finally:
        if timer is not None:
            timer.cancel()
        conn.cast("transport_closed")
        if not ws.closed and not handle.closed:
            await ws.close()
