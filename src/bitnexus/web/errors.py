"""One error shape for the whole HTTP API: ``{"errors": {...}}`` with the right status.

Every :class:`~bitnexus.exceptions.BitnexusError` carries a ``status``; this
middleware renders it. Unknown exceptions become a 500 with a request id and
never a stack trace; a dependency that is down (database, a service process)
becomes 503.

Example::

    raise ApiError(422, {"email": ["has invalid format"]})
    # → 422 {"errors": {"email": ["has invalid format"]}}
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from bitnexus.exceptions import BitnexusError, CallTimeout, NoProcess, ProcessExited
from bitnexus.web.request_keys import REQUEST_ID_KEY

__all__ = ["ApiError", "error_middleware", "json_response", "skip_websocket_upgrades"]

_log = logging.getLogger("bitnexus.web")

_KEPT_HEADERS = frozenset({"allow", "retry-after", "www-authenticate"})
_DETAILS = {
    400: "bad request",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    409: "conflict",
    413: "request body too large",
    415: "unsupported media type",
    422: "unprocessable entity",
    429: "too many requests",
    500: "internal server error",
    503: "service unavailable",
}


class ApiError(BitnexusError):
    """An HTTP error with a JSON body. ``errors`` is a dict (field errors) or
    a string (becomes ``{"detail": ...}``)."""

    def __init__(
        self, status: int, errors: Any = None, *, headers: dict[str, str] | None = None
    ) -> None:
        self.status = status
        if errors is None:
            errors = {"detail": _DETAILS.get(status, "error")}
        elif isinstance(errors, str):
            errors = {"detail": errors}
        self.errors = errors
        self.headers = headers or {}
        super().__init__(f"{status}: {errors}")


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON response serialized with orjson."""
    return web.Response(
        body=orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def _render(
    status: int, errors: Any, request: web.Request, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"errors": errors}
    request_id = request.get(REQUEST_ID_KEY)
    if request_id and status >= 500:
        body["errors"] = {**errors, "request_id": request_id}
    return json_response(body, status=status, headers=headers)


def skip_websocket_upgrades(middleware: Callable[..., Awaitable[web.StreamResponse]]) -> Any:
    """Make an HTTP middleware let WebSocket upgrades through untouched.

    A socket lives for hours, and an ``async`` middleware's frame would live
    (and hold its locals) as long, for every socket; sockets answer their own
    handshake refusals with bare statuses anyway. This wrapper is a plain
    function: for an upgrade it returns the handler's awaitable itself, so
    no frame of it stays behind.

    Example::

        @skip_websocket_upgrades
        async def timing(request, handler): ...
    """

    @web.middleware
    def wrapper(request: web.Request, handler: Any) -> Awaitable[web.StreamResponse]:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return handler(request)  # type: ignore[no-any-return]
        return middleware(request, handler)

    return functools.update_wrapper(wrapper, middleware)


@skip_websocket_upgrades
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn every failure into ``{"errors": ...}`` with the matching status."""
    try:
        return await handler(request)
    except ApiError as exc:
        return _render(exc.status, exc.errors, request, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        detail = _DETAILS.get(exc.status, exc.reason or "error")
        # Keep what the client needs to act on (Allow on a 405).
        kept = {k: v for k, v in exc.headers.items() if k.lower() in _KEPT_HEADERS}
        return _render(exc.status, {"detail": detail}, request, kept)
    except (NoProcess, CallTimeout, ProcessExited) as exc:
        _log.error("dependency unavailable on %s %s: %s", request.method, request.path, exc)
        return _render(503, {"detail": "service unavailable"}, request, {"retry-after": "1"})
    except BitnexusError as exc:
        status = exc.status if 400 <= exc.status < 600 else 500
        if status >= 500:
            _log.error("%s %s failed: %r", request.method, request.path, exc)
            return _render(status, {"detail": _DETAILS.get(status, "error")}, request)
        errors = getattr(exc, "errors", None) or {
            "detail": getattr(exc, "public_message", None) or str(exc)
        }
        return _render(status, errors, request)
    except Exception:
        _log.exception("unhandled error on %s %s", request.method, request.path)
        return _render(500, {"detail": "internal server error"}, request)
