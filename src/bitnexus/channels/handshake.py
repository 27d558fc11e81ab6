"""What every transport checks before a connection exists: origin, params,
serializer version, connect_info, and ``Socket.connect``/``id`` (§1.2).

Example::

    outcome = await handshake(request, socket, options, transport="websocket")
    if isinstance(outcome, Refuse):
        return web.Response(status=outcome.status)
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from bitnexus.channels.connect_info import ConnectInfo
from bitnexus.channels.logging import filter_params
from bitnexus.channels.protocol import Serializer, serializer_for_vsn
from bitnexus.channels.socket import Refuse, Socket, SocketState

__all__ = ["Accepted", "MountOptions", "decode_params", "handshake", "origin_allowed"]

_log = logging.getLogger("bitnexus.channels")
_BRACKETS = re.compile(r"\[([^\]]*)\]")


@dataclass(frozen=True)
class MountOptions:
    """Options of one socket mount (``/socket``).

    Attributes:
        check_origin: ``True`` (origin host must be ``url_host``), ``False``
            or empty (no check), or allowed origins like ``"//example.com"``,
            ``"https://example.com"``, ``"//*.example.com"``.
        max_frame_size: bytes; bigger WebSocket frames close with 1009.
        idle_timeout: seconds without any received frame before closing.
        max_channels: channels one connection may join (S19).
        longpoll_window: seconds a long-poll GET may wait.
        longpoll_pubsub_timeout: seconds to reach a session before 410.
        secret: signs long-poll session tokens (from config, never code).
    """

    check_origin: bool | tuple[str, ...] = True
    url_host: str = "localhost"
    max_frame_size: int = 1_048_576
    idle_timeout: float = 60.0
    max_channels: int = 100
    join_timeout: float = 30.0
    longpoll_window: float = 10.0
    longpoll_pubsub_timeout: float = 2.0
    longpoll_max_body: int = 8_000_000
    secret: bytes = field(default=b"", repr=False)
    connect_info: tuple[tuple[str, Any], ...] = ()
    """Extra ``(key, value)`` pairs merged into every ``connect_info``
    (e.g. ``(("signing_salt", "salt"),)``)."""
    log_connect: bool = True
    """Log one info line per accepted connection (socket, transport,
    serializer, filtered params), like Phoenix's connect log."""
    websocket: bool = True
    longpoll: bool = True


@dataclass(frozen=True)
class Accepted:
    """``connect`` accepted the connection."""

    assigns: dict[str, Any]
    socket_id: str | None
    serializer: type[Serializer]
    connect_info: ConnectInfo
    params: dict[str, Any]


def decode_params(pairs: Any) -> dict[str, Any]:
    """Decode query pairs Plug-style: ``a[b]=1`` → ``{"a": {"b": "1"}}``, last value wins."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if "[" not in key:  # the common case: a plain name
            out[key] = value
            continue
        head, _, rest = key.partition("[")
        parts = [head] + (_BRACKETS.findall("[" + rest) if rest else [])
        target = out
        for part in parts[:-1]:
            nxt = target.get(part)
            if not isinstance(nxt, dict):
                nxt = target[part] = {}
            target = nxt
        target[parts[-1]] = value
    return out


def _origin_host_match(allowed_host: str, host: str) -> bool:
    if allowed_host.startswith("*."):
        base = allowed_host[2:]
        return host == base or host.endswith("." + base)
    return host == allowed_host


def origin_allowed(
    origin: str | None, check: bool | tuple[str, ...] | list[str], url_host: str
) -> bool:
    """S8-S12: no Origin header passes; an origin with no host never does."""
    if origin is None or check is False or (not isinstance(check, bool) and not check):
        return True
    parts = urlsplit(origin)
    host = parts.hostname
    if not host:
        return False
    if check is True:
        return host == url_host
    for entry in check:
        allowed = urlsplit(entry)
        if allowed.hostname is None or not _origin_host_match(allowed.hostname, host):
            continue
        if allowed.scheme and allowed.scheme != parts.scheme:
            continue
        if allowed.port is not None and allowed.port != parts.port:
            continue
        return True
    return False


async def handshake(
    request: web.Request,
    socket: Socket,
    options: MountOptions,
    *,
    transport: str,
    auth_token: str | None,
) -> Accepted | Refuse:
    """Origin, vsn and ``connect``/``id`` checks shared by both transports."""
    if not origin_allowed(request.headers.get("Origin"), options.check_origin, options.url_host):
        _log.warning("refused origin %r on %s", request.headers.get("Origin"), request.path)
        return Refuse(403, "origin")
    params = decode_params(request.query.items())
    serializer = serializer_for_vsn(request.query.get("vsn"))
    if serializer is None:
        _log.warning(
            "The client's requested transport version %r does not match "
            "server's version requirements",
            request.query.get("vsn"),
        )
        return Refuse(403, "vsn")
    connect_info = ConnectInfo(request, auth_token, options.connect_info)
    try:
        result = await socket.connect(params, connect_info)
    except Exception:
        _log.exception("%s.connect raised", type(socket).__name__)
        return Refuse(403, "connect crashed")
    if isinstance(result, Refuse):
        return result
    if not isinstance(result, dict):
        _log.error(
            "%s.connect returned %r; expected a dict of assigns or Refuse()",
            type(socket).__name__,
            result,
        )
        return Refuse(403, "bad connect result")
    socket_id = socket.id(SocketState(result, transport, connect_info))
    if socket_id is not None and not isinstance(socket_id, str):
        _log.error("%s.id returned %r; expected a str or None", type(socket).__name__, socket_id)
        return Refuse(403, "bad id")
    if options.log_connect and _log.isEnabledFor(logging.INFO):
        _log.info(
            "CONNECTED TO %s Transport: %s Serializer: %s Parameters: %s",
            type(socket).__name__,
            transport,
            serializer.name,
            filter_params(params),
        )
    return Accepted(result, socket_id, serializer, connect_info, params)
