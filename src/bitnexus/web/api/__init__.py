"""The platform's HTTP API under ``/api/v1``: router, controllers, views.

:func:`install_api` is what :func:`bitnexus.platform.attach_platform` calls:
it adds the request id, access log and error middlewares and installs the
router. :func:`build_router` alone builds the route table without starting
anything (``bitnexus routes`` prints it).

Example::

    app = build_app(settings)
    install_api(app, platform)
    # GET /api/v1/openapi.json describes every route
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bitnexus.web.api.router import API_PREFIX, build_router
from bitnexus.web.errors import error_middleware
from bitnexus.web.plugs import access_log_middleware, request_id_middleware
from bitnexus.web.router import Router

if TYPE_CHECKING:
    from bitnexus.platform import Platform

__all__ = ["API_PREFIX", "build_router", "install_api"]

_MIDDLEWARES = (request_id_middleware, access_log_middleware, error_middleware)


def install_api(app: web.Application, platform: Platform) -> Router:
    """Add the API's middlewares and routes to ``app`` (not yet started).

    Middlewares go first, in this order: request id (outermost, so every
    response, errors included, carries ``x-request-id``), access log, errors
    (innermost, so the log sees the status the client got).

    Returns:
        The installed router.

    Example::

        router = install_api(app, platform)
        assert any(r.path == "/api/v1/products" for r in router.routes)
    """
    for index, middleware in enumerate(_MIDDLEWARES):
        if middleware not in app.middlewares:
            app.middlewares.insert(index, middleware)
    router = build_router(platform)
    router.install(app)
    return router
