"""The long-poll transport: ``GET|POST|OPTIONS {mount}/longpoll`` (reference §3).

Every answer to GET, POST and OPTIONS is HTTP 200; the logical status is in
the JSON body. Any other method gets HTTP 400 with an empty body (checked
before the origin).

- ``GET`` without a valid session token: origin, vsn and ``connect`` run
  (:func:`~bitnexus.channels.handshake.handshake`); success starts a session
  and answers ``{"status":410,"token":T,"messages":[]}``, a refusal answers
  ``{"status":403}``.
- ``GET`` with a valid token: buffered messages at once (``200``), else wait
  up to the window for some, else ``204``.
- ``POST`` with a valid token: ``application/x-ndjson`` bodies carry up to
  100 frames, one per line (``[``/``{`` starts a text frame, anything else is
  standard base64 of a binary frame); any other content type is one text
  frame. Each frame is acknowledged by the connection before the next is
  sent; ``200`` when all were, ``408`` when one was not within the window
  (later lines are dropped), ``410`` when the session is gone.

Our choices where Phoenix has none (the JS client treats any non-200 POST as
close 1011 and reconnects, which is what these want):

- a frame that cannot be decoded ends the session (like close 1011 on a
  WebSocket; channels stop with ``("shutdown", "closed")``) and the POST
  answers ``{"status":400}``; lines before it were processed;
- a body larger than ``longpoll_max_body`` answers ``{"status":413}``
  without touching the session;
- empty ndjson lines are skipped (they still count toward the 100).

Session tokens are HMAC-SHA256 signed with ``MountOptions.secret``, bound to
the mount path (unlike Phoenix, issue #6791) and to this node, and expire
after 14 days. They are read from the ``X-Phoenix-Longpoll-Token`` header,
then from the last ``token`` query parameter. A token names a session
registered on this node under :func:`~bitnexus.channels.longpoll_session.session_name`
(mount, random id) and carries its pid serial and node id, so a router in
front of several nodes can tell where a session lives; a session that is
gone is noticed at once (no ``longpoll_pubsub_timeout`` wait), which only
bounds the call that fetches a live session's connection.

Example::

    handler = longpoll_handler(UserSocket(), hub, options, mount="/socket")
    app.router.add_route("*", "/socket/longpoll", handler)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
from typing import Any

import orjson
from aiohttp import web

from bitnexus.actors import Pid, shutdown_reason
from bitnexus.channels.connection import Connection, ConnectionOptions
from bitnexus.channels.handshake import MountOptions, handshake, origin_allowed
from bitnexus.channels.hub import Hub
from bitnexus.channels.longpoll_session import LongPollHandle, LongPollSession, session_name
from bitnexus.channels.protocol import Message, Serializer
from bitnexus.channels.socket import Refuse, Socket
from bitnexus.exceptions import CallTimeout, NoProcess, ProtocolError, Refused
from bitnexus.supervision import ChildSpec, DynamicSupervisor, Restart

__all__ = [
    "AUTH_TOKEN_HEADER",
    "MAX_LINES",
    "TOKEN_HEADER",
    "TOKEN_MAX_AGE",
    "SessionTokens",
    "longpoll_handler",
]

_log = logging.getLogger("bitnexus.channels")

TOKEN_HEADER = "X-Phoenix-Longpoll-Token"
AUTH_TOKEN_HEADER = "X-Phoenix-AuthToken"
TOKEN_MAX_AGE = 14 * 24 * 3600
"""Seconds a session token stays valid (Phoenix: two weeks)."""
MAX_LINES = 100
NDJSON = "application/x-ndjson"

_JSON_HEADERS = {
    "Content-Type": "application/json; charset=utf-8",
    "Cache-Control": "no-store",
    "Access-Control-Allow-Origin": "*",
}
_FUTURE_SKEW_MS = 1000
# One per process: a mount without a configured secret still signs, but its
# tokens die with the process. Configured secrets are the normal case.
_EPHEMERAL_SECRET = secrets.token_bytes(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionTokens:
    """Signs and verifies long-poll session tokens.

    A token names one session (pid serial and a random session id) on one
    node, was issued at one mount, and expires after ``max_age`` seconds. A
    token from another mount, node or secret, a tampered one, an expired one
    or one issued in the future does not verify.

    Args:
        secret: the signing secret (``MountOptions.secret``).
        mount: the mount path the token is bound to.
        node_id: the node owning the sessions.
        max_age: seconds a token stays valid.

    Example::

        tokens = SessionTokens(b"k" * 32, "/socket", node.node_id)
        token = tokens.sign(pid.serial, "abc")
        assert tokens.verify(token) == (pid.serial, "abc")
    """

    def __init__(
        self, secret: bytes, mount: str, node_id: int, *, max_age: float = TOKEN_MAX_AGE
    ) -> None:
        self._key = hmac.new(secret, b"bitnexus long-poll session token", hashlib.sha256).digest()
        self._mount = mount.encode()
        self.node_id = node_id
        self.max_age = max_age

    def _mac(self, payload: str) -> str:
        signed = self._mount + b"|" + payload.encode()
        return _b64(hmac.new(self._key, signed, hashlib.sha256).digest())

    def sign(self, serial: int, sid: str, *, now: float | None = None) -> str:
        """A token for session ``sid`` whose pid has serial ``serial``."""
        issued_ms = int((time.time() if now is None else now) * 1000)
        payload = _b64(orjson.dumps([self.node_id, serial, sid, issued_ms]))
        return f"{payload}.{self._mac(payload)}"

    def verify(self, token: str | None, *, now: float | None = None) -> tuple[int, str] | None:
        """``(serial, sid)`` for a valid token, else None."""
        if not token or token.count(".") != 1:
            return None
        payload, mac = token.split(".")
        if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            return None
        try:
            node_id, serial, sid, issued_ms = orjson.loads(_unb64(payload))
        except (ValueError, TypeError, binascii.Error):
            return None
        if node_id != self.node_id or type(serial) is not int or type(sid) is not str:
            return None
        now_ms = (time.time() if now is None else now) * 1000
        if type(issued_ms) is not int or issued_ms > now_ms + _FUTURE_SKEW_MS:
            return None
        if now_ms - issued_ms > self.max_age * 1000:
            return None
        return serial, sid


def _json(body: dict[str, Any]) -> web.Response:
    return web.Response(body=orjson.dumps(body), headers=_JSON_HEADERS)


def _preflight(request: web.Request) -> web.Response:
    asked = request.headers.getall("Access-Control-Request-Headers", [])
    return web.Response(
        status=200,
        headers={
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Headers": ", ".join(asked),
            "Access-Control-Allow-Methods": "get, post, options",
            "Access-Control-Max-Age": "3600",
        },
    )


async def _read_body(request: web.Request, limit: int) -> bytes | None:
    """The body, or None past ``limit`` bytes (read here: the app's client_max_size
    must not cap it)."""
    length = request.content_length
    if length is not None and length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _lines(body: bytes, ndjson: bool) -> list[bytes]:
    if not ndjson:
        return [body]
    lines = body.split(b"\n")
    if len(lines) > MAX_LINES:
        _log.debug("long-poll batch of %d lines: only the first %d are used", len(lines), MAX_LINES)
    return [line.removesuffix(b"\r") for line in lines[:MAX_LINES]]


def _decode_line(serializer: type[Serializer], line: bytes, ndjson: bool) -> Message:
    if not ndjson or line[:1] in (b"[", b"{"):
        return serializer.decode(line, opcode="text")
    try:
        data = base64.b64decode(line, validate=True)
    except binascii.Error as exc:
        raise ProtocolError(f"ndjson line is neither a JSON frame nor base64: {exc}") from exc
    return serializer.decode(data, opcode="binary")


class _LongPoll:
    """The request handler of one mount."""

    def __init__(self, socket: Socket, hub: Hub, options: MountOptions, mount: str) -> None:
        self.socket = socket
        self.hub = hub
        self.options = options
        self.mount = mount
        self.window = options.longpoll_window
        self.conn_options = ConnectionOptions(
            max_channels=options.max_channels, join_timeout=options.join_timeout
        )
        secret = options.secret
        if not secret:
            _log.warning("long poll at %s: no MountOptions.secret, tokens last one process", mount)
            secret = _EPHEMERAL_SECRET
        self.tokens = SessionTokens(secret, mount, hub.node.node_id)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        method = request.method
        if method not in ("GET", "POST", "OPTIONS"):
            return web.Response(status=400)
        origin = request.headers.get("Origin")
        if not origin_allowed(origin, self.options.check_origin, self.options.url_host):
            _log.warning("refused origin %r on %s", origin, request.path)
            return _json({"status": 403})
        if method == "OPTIONS":
            return _preflight(request)
        if method == "GET":
            return await self._get(request)
        return await self._post(request)

    def _session(self, request: web.Request) -> tuple[Pid[Any] | None, str | None]:
        token = request.headers.get(TOKEN_HEADER)
        if not token:
            token = (request.query.getall("token", None) or [None])[-1]
        found = self.tokens.verify(token)
        if found is None:
            return None, None
        serial, sid = found
        pid = self.hub.node.whereis(session_name(self.mount, sid))
        if pid is None or pid.serial != serial:
            return None, None
        return pid, token

    async def _get(self, request: web.Request) -> web.StreamResponse:
        session, token = self._session(request)
        if session is not None:
            try:
                messages = await session.call("poll", timeout=self.window)
            except CallTimeout:
                messages = []
            except Refused:  # the session ended while we waited
                messages = None
            if messages is not None:
                status = 200 if messages else 204
                return _json({"status": status, "token": token, "messages": messages})
        return await self._new_session(request)

    async def _new_session(self, request: web.Request) -> web.StreamResponse:
        outcome = await handshake(
            request,
            self.socket,
            self.options,
            transport="longpoll",
            auth_token=request.headers.get(AUTH_TOKEN_HEADER),
        )
        if isinstance(outcome, Refuse):
            return _json({"status": 403})  # no custom statuses over long poll
        handle = LongPollHandle(outcome.serializer)
        sid = secrets.token_urlsafe(16)
        conn: Pid[Any] | None = None
        try:
            sup = self.hub.connections_sup
            conn = await DynamicSupervisor.start_temporary(
                sup,
                Connection,
                socket=self.socket,
                assigns=outcome.assigns,
                socket_id=outcome.socket_id,
                transport=handle,
                hub=self.hub,
                connect_info=outcome.connect_info.detached(),
                options=self.conn_options,
            )
            assert conn is not None
            session = await DynamicSupervisor.start_child(
                sup,
                ChildSpec.for_actor(
                    LongPollSession,
                    id="longpoll_session",
                    restart=Restart.TEMPORARY,
                    name=session_name(self.mount, sid),
                    handle=handle,
                    connection=conn,
                    window=self.window,
                    mount=self.mount,
                ),
            )
            assert session is not None
        except Refused:
            _log.exception("could not start a long-poll session at %s", self.mount)
            if conn is not None:
                conn.cast(("close", 1011, "server error", shutdown_reason("closed")))
            return _json({"status": 500})
        token = self.tokens.sign(session.serial, sid)
        return _json({"status": 410, "token": token, "messages": []})

    async def _post(self, request: web.Request) -> web.StreamResponse:
        session, _token = self._session(request)
        if session is None:
            return _json({"status": 410})
        try:
            target = await session.call("connection", timeout=self.options.longpoll_pubsub_timeout)
        except Refused:
            target = None
        if target is None:
            return _json({"status": 410})
        conn, serializer = target
        body = await _read_body(request, self.options.longpoll_max_body)
        if body is None:
            return _json({"status": 413})
        ndjson = request.content_type == NDJSON
        for line in _lines(body, ndjson):
            if not line and ndjson:
                continue
            try:
                message = _decode_line(serializer, line, ndjson)
            except ProtocolError as exc:
                _log.warning("closing long-poll session %s: %s", session, exc)  # S43
                await self._end(session)
                return _json({"status": 400})
            try:
                await conn.call(message, timeout=self.window)
            except CallTimeout:
                return _json({"status": 408})
            except Refused:  # the connection ended under us
                return _json({"status": 410})
        return _json({"status": 200})

    async def _end(self, session: Pid[Any]) -> None:
        try:
            await self.hub.node.stop(session, shutdown_reason("closed"), timeout=self.window)
        except NoProcess:
            pass


def longpoll_handler(socket: Socket, hub: Hub, options: MountOptions, *, mount: str) -> Any:
    """Build the aiohttp handler for ``{mount}/longpoll`` (all methods).

    Args:
        socket: the mount's :class:`~bitnexus.channels.Socket`.
        hub: the node's channel hub (connections supervisor, PubSub).
        options: the mount's options (window, limits, ``secret``).
        mount: the mount path, e.g. ``"/socket"``; session tokens are bound to it.

    Example::

        handler = longpoll_handler(sock, hub, opts, mount="/socket")
        app.router.add_route("*", "/socket/longpoll", handler)
    """
    return _LongPoll(socket, hub, options, mount.rstrip("/")).handle
