"""What a request carries through its pipeline, as typed ``web.RequestKey``\\ s.

Plugs write these and controllers read them: ``request[PRINCIPAL_KEY]`` is a
:class:`~bitnexus.auth.Principal` to the type checker, and aiohttp (3.14+)
warns about plain string keys.

Example::

    principal = request[PRINCIPAL_KEY]        # set by Authenticate
    body = request[BODY_KEY]                  # set by ParseJson
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from bitnexus.auth.roles import Principal
    from bitnexus.auth.tokens import Claims
    from bitnexus.web.router import Route

__all__ = ["BODY_KEY", "CLAIMS_KEY", "PRINCIPAL_KEY", "REQUEST_ID_KEY", "ROUTE_KEY"]

# web.RequestKey exists from aiohttp 3.14 (which warns about string keys);
# older releases take plain strings, and do not warn.
_RequestKey: Any = getattr(web, "RequestKey", None)


def _key(name: str, kind: Any = object) -> Any:
    return _RequestKey(name, kind) if _RequestKey is not None else name


REQUEST_ID_KEY: web.RequestKey[str] = _key("request_id", str)
"""The request's id: the client's well-formed ``x-request-id``, or a new one."""
ROUTE_KEY: web.RequestKey[Route] = _key("route")
"""The matched :class:`~bitnexus.web.router.Route` (its metadata drives the plugs)."""
PRINCIPAL_KEY: web.RequestKey[Principal] = _key("principal")
"""Who is calling, once :class:`~bitnexus.web.plugs.Authenticate` verified the token."""
CLAIMS_KEY: web.RequestKey[Claims] = _key("claims")
"""The verified access token's claims."""
BODY_KEY: web.RequestKey[dict[str, Any]] = _key("body")
"""The parsed JSON object body (``{}`` when there is none)."""
