"""``connect_info``: what ``Socket.connect`` may see of the request (§1.2).

Peer address, ``x-`` headers, trace context headers, the URI, the user agent,
the ``sec-websocket-*`` headers and the ``authToken`` — never cookies. Most
sockets read one key or none, so each key is computed from the request the
first time it is read, not for every connection up front; a WebSocket's
request lives as long as its connection anyway.

It is a read-only :class:`~collections.abc.Mapping`. Copy it with ``dict()``
to keep it, or to encode it as JSON. Example::

    async def connect(self, params, connect_info):
        token = params.get("token") or connect_info.get("auth_token")
        peer = connect_info["peer_data"]["address"]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from aiohttp import web

__all__ = ["ConnectInfo"]

_TRACE_HEADERS = ("traceparent", "tracestate")


def _peer_data(request: web.Request) -> dict[str, Any]:
    transport = request.transport
    peer = transport.get_extra_info("peername") if transport is not None else None
    return {
        "address": peer[0] if peer else None,
        "port": peer[1] if peer else None,
        "ssl_cert": None,
    }


def _headers(request: web.Request, keep: Callable[[str], bool]) -> list[tuple[str, str]]:
    return [(k.lower(), v) for k, v in request.headers.items() if keep(k.lower())]


def _uri(request: web.Request) -> dict[str, Any]:
    return {
        "scheme": request.scheme,
        "host": request.host.split(":")[0],
        "port": request.url.port,
        "path": request.path,
        "query": request.query_string,
    }


_COMPUTED: dict[str, Callable[[web.Request], Any]] = {
    "peer_data": _peer_data,
    "x_headers": lambda request: _headers(request, lambda k: k.startswith("x-")),
    "trace_context_headers": lambda request: _headers(request, _TRACE_HEADERS.__contains__),
    "uri": _uri,
    "user_agent": lambda request: request.headers.get("User-Agent"),
    "sec_websocket_headers": lambda request: _headers(
        request, lambda k: k.startswith("sec-websocket-")
    ),
}


class ConnectInfo(Mapping[str, Any]):
    """The ``connect_info`` of one connection, computed key by key on first read.

    Args:
        request: the handshake request.
        auth_token: the token from the ``authToken`` subprotocol or header.
        extra: the mount's own ``(key, value)`` pairs; they win over computed keys.
    """

    __slots__ = ("_auth_token", "_extra", "_request", "_values")

    def __init__(
        self, request: web.Request, auth_token: str | None, extra: tuple[tuple[str, Any], ...]
    ) -> None:
        self._request = request
        self._auth_token = auth_token
        self._extra = extra
        self._values: dict[str, Any] | None = None

    def __getitem__(self, key: str) -> Any:
        for name, value in self._extra:
            if name == key:
                return value
        if key == "auth_token":
            return self._auth_token
        values = self._values
        if values is not None and key in values:
            return values[key]
        compute = _COMPUTED[key]  # KeyError for an unknown key, as a dict would
        if values is None:
            values = self._values = {}
        value = values[key] = compute(self._request)
        return value

    def __iter__(self) -> Iterator[str]:
        yield from _COMPUTED
        yield "auth_token"
        for name, _ in self._extra:
            if name not in _COMPUTED and name != "auth_token":
                yield name

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def detached(self) -> dict[str, Any]:
        """Every key computed now, as a plain dict that no longer needs the
        request (long poll keeps it for the session, beyond one request)."""
        return dict(self.items())

    def __repr__(self) -> str:
        return f"ConnectInfo({self.detached()!r})"
