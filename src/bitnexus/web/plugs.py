"""Request plugs and middlewares: request id, access log, JSON body, JWT,
permissions, rate limits.

Middlewares (every request): :func:`request_id_middleware` (echoes or makes
``x-request-id``) and :func:`access_log_middleware` (one structured line per
request). Plugs (per pipeline): :class:`ParseJson`, :class:`Authenticate`,
:func:`authorize`, :class:`RateLimit`.

Example::

    router.pipeline("api", ParseJson(max_body=1_048_576), RateLimit(limiter))
    router.pipeline("authenticated", Authenticate(tokens), RateLimit(limiter, per_user=True),
                    authorize)
"""

from __future__ import annotations

import logging
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from bitnexus.auth.roles import Forbidden, Principal, Role, require
from bitnexus.auth.tokens import TokenError, Tokens, token_from_authorization
from bitnexus.web.errors import ApiError, skip_websocket_upgrades
from bitnexus.web.request_keys import (
    BODY_KEY,
    CLAIMS_KEY,
    PRINCIPAL_KEY,
    REQUEST_ID_KEY,
    ROUTE_KEY,
)

__all__ = [
    "Authenticate",
    "ParseJson",
    "RateLimit",
    "RateLimiter",
    "access_log_middleware",
    "authorize",
    "request_id_middleware",
]

_access = logging.getLogger("bitnexus.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@skip_websocket_upgrades
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Use a well-formed incoming ``x-request-id`` or make one; echo it back."""
    incoming = request.headers.get("x-request-id", "")
    request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(8)
    request[REQUEST_ID_KEY] = request_id
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["x-request-id"] = request_id
        raise
    response.headers["x-request-id"] = request_id
    return response


@skip_websocket_upgrades
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """One structured log line per request, and per-route metrics hooks."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        route = request.get(ROUTE_KEY)
        principal = request.get(PRINCIPAL_KEY)
        observer = request.app.get(_OBSERVER_KEY)
        if observer is not None:
            observer(request.method, route.path if route else "unmatched", status, elapsed)
        if _access.isEnabledFor(logging.INFO):
            _access.info(
                "%s %s %d %.1fms",
                request.method,
                request.path,
                status,
                elapsed * 1000,
                extra={
                    "request_id": request.get(REQUEST_ID_KEY),
                    "user_id": principal.user_id if principal else None,
                    "remote": request.remote,
                },
            )


_OBSERVER_KEY = web.AppKey("request_observer", Callable[..., None])  # type: ignore[arg-type]
REQUEST_OBSERVER_KEY = _OBSERVER_KEY
"""``fn(method, route_path, status, seconds)`` told of every request (metrics)."""


class ParseJson:
    """Parse a JSON object body into ``request[BODY_KEY]`` (400/413/415 on bad input).

    Bodies of GET/DELETE requests are not read. An empty body is ``{}``.

    Example::

        router.pipeline("json", ParseJson(max_body=settings.http.max_body_size))
    """

    def __init__(self, *, max_body: int) -> None:
        self.max_body = max_body

    async def __call__(self, request: web.Request) -> None:
        if request.method not in ("POST", "PUT", "PATCH"):
            request[BODY_KEY] = {}
            return
        too_large = ApiError(413, {"detail": f"request body over {self.max_body} bytes"})
        if request.content_length is not None and request.content_length > self.max_body:
            raise too_large
        raw = await self._read(request)
        if raw is None:
            raise too_large
        if not raw.strip():
            request[BODY_KEY] = {}
            return
        if not _is_json(request.content_type):
            raise ApiError(415, {"detail": "send JSON with content-type application/json"})
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, {"detail": f"malformed JSON: {exc.msg}"}) from None
        if not isinstance(body, dict):
            raise ApiError(400, {"detail": "the body must be a JSON object"})
        request[BODY_KEY] = body

    async def _read(self, request: web.Request) -> bytes | None:
        # StreamReader.read(n) returns what is buffered, not n bytes: loop to
        # EOF, and stop as soon as the limit is passed (chunked bodies have no
        # content-length to check up front).
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await request.content.read(self.max_body + 1 - size)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
            if size > self.max_body:
                return None


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


class Authenticate:
    """Verify the bearer JWT and put a :class:`Principal` in ``request[PRINCIPAL_KEY]``."""

    def __init__(self, tokens: Tokens) -> None:
        self.tokens = tokens

    async def __call__(self, request: web.Request) -> None:
        try:
            token = token_from_authorization(request.headers.get("Authorization"))
            claims = self.tokens.verify_access(token)
        except TokenError as exc:
            raise ApiError(
                401,
                {
                    "detail": "authentication required"
                    if exc.reason == "missing"
                    else f"{exc.reason} token",
                    "reason": exc.reason,
                },
                headers={
                    "www-authenticate": (
                        f'Bearer error="invalid_token", error_description="{exc.reason}"'
                    )
                },
            ) from None
        try:
            user_id: int | str = int(claims.subject)
        except ValueError:
            user_id = claims.subject
        request[PRINCIPAL_KEY] = Principal(user_id, Role(claims.role))
        request[CLAIMS_KEY] = claims


async def authorize(request: web.Request) -> None:
    """Check the route's ``permission`` against the principal's role (403)."""
    route = request.get(ROUTE_KEY)
    permission = getattr(route, "permission", None)
    if permission is None:
        return
    principal = request.get(PRINCIPAL_KEY)
    if principal is None:
        raise ApiError(401, {"detail": "authentication required", "reason": "missing"})
    try:
        require(principal, permission)
    except Forbidden as exc:
        raise ApiError(403, {"detail": f"role {principal.role} may not {permission}"}) from exc


class RateLimiter:
    """Token buckets keyed by client, ``limit`` requests per ``period`` seconds.

    Single-node state; behind a load balancer each node limits separately.
    """

    def __init__(self, *, limit: int, period: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.rate = limit / period
        self.max_keys = max_keys
        self._buckets: dict[Any, list[float]] = {}

    def hit(self, key: Any, now: float | None = None) -> float:
        """Take one token. Returns 0 when allowed, else seconds until allowed."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._prune(now)
            bucket = self._buckets[key] = [float(self.limit), now]
        tokens = min(self.limit, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate

    def _prune(self, now: float) -> None:
        full = [
            k
            for k, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self.rate >= self.limit
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            self._buckets.clear()


class RateLimit:
    """429 with ``retry-after`` past the limit; by client IP, or by user when
    ``per_user`` and the request is authenticated."""

    def __init__(self, limiter: RateLimiter, *, per_user: bool = False) -> None:
        self.limiter = limiter
        self.per_user = per_user

    async def __call__(self, request: web.Request) -> None:
        if self.per_user:
            principal = request.get(PRINCIPAL_KEY)
            if principal is None:
                return
            key: Any = ("user", principal.user_id)
        else:
            key = ("ip", request.remote)
        wait = self.limiter.hit(key)
        if wait > 0:
            raise ApiError(
                429,
                {"detail": "rate limit exceeded", "retry_after": math.ceil(wait)},
                headers={"retry-after": str(math.ceil(wait))},
            )
