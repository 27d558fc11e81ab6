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

from bitnexus.auth.roles import Principal, Role, require
from bitnexus.auth.tokens import TokenError, Tokens, token_from_authorization
from bitnexus.web.errors import ApiError

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


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Use a well-formed incoming ``x-request-id`` or make one; echo it back."""
    incoming = request.headers.get("x-request-id", "")
    request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(8)
    request["request_id"] = request_id
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["x-request-id"] = request_id
        raise
    response.headers["x-request-id"] = request_id
    return response


@web.middleware
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
        route = request.get("route")
        principal = request.get("principal")
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
                    "request_id": request.get("request_id"),
                    "user_id": principal.user_id if principal else None,
                    "remote": request.remote,
                },
            )


_OBSERVER_KEY = web.AppKey("request_observer", Callable[..., None])  # type: ignore[arg-type]
REQUEST_OBSERVER_KEY = _OBSERVER_KEY
"""``fn(method, route_path, status, seconds)`` told of every request (metrics)."""


class ParseJson:
    """Parse a JSON object body into ``request["body"]`` (400/413/415 on bad input)."""

    def __init__(self, *, max_body: int) -> None:
        self.max_body = max_body

    async def __call__(self, request: web.Request) -> None:
        if request.method not in ("POST", "PUT", "PATCH"):
            request["body"] = {}
            return
        if request.content_length is not None and request.content_length > self.max_body:
            raise ApiError(413, {"detail": f"request body over {self.max_body} bytes"})
        raw = await request.content.read(self.max_body + 1)
        if len(raw) > self.max_body:
            raise ApiError(413, {"detail": f"request body over {self.max_body} bytes"})
        if not raw.strip():
            request["body"] = {}
            return
        if request.content_type not in ("application/json", ""):
            raise ApiError(415, {"detail": "send JSON with content-type application/json"})
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ApiError(400, {"detail": f"malformed JSON: {exc.msg}"}) from None
        if not isinstance(body, dict):
            raise ApiError(400, {"detail": "the body must be a JSON object"})
        request["body"] = body


class Authenticate:
    """Verify the bearer JWT and put a :class:`Principal` in ``request["principal"]``."""

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
        request["principal"] = Principal(user_id, Role(claims.role))
        request["claims"] = claims


async def authorize(request: web.Request) -> None:
    """Check the route's ``permission`` against the principal's role (403)."""
    route = request.get("route")
    permission = getattr(route, "permission", None)
    if permission is None:
        return
    principal = request.get("principal")
    if principal is None:
        raise ApiError(401, {"detail": "authentication required", "reason": "missing"})
    try:
        require(principal, permission)
    except Exception as exc:  # Forbidden
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
            principal = request.get("principal")
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
