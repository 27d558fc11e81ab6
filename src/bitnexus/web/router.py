"""Router with scopes and pipelines, compiled to aiohttp routes (like Phoenix's router).

A pipeline is an ordered list of plugs; a plug is ``async plug(request) ->
None`` that may raise :class:`~bitnexus.web.errors.ApiError` to halt. A scope
adds a path prefix and the pipelines its routes run through. Each route
carries the metadata the rest of the web layer reads: the permission
:func:`~bitnexus.web.plugs.authorize` enforces, and the schemas and
parameters the OpenAPI document is generated from.

Example::

    router = Router()
    router.pipeline("api", RateLimit(ip_limiter))
    router.pipeline("authenticated", Authenticate(tokens), authorize)
    with router.scope("/api/v1", pipe_through=("api",)) as api:
        api.get("/openapi.json", docs.show, summary="This document")
        with api.scope("", pipe_through=("authenticated",)) as authed:
            authed.post("/transactions", transactions.create,
                        permission=Permission.TRANSACTIONS_CREATE)
    router.install(app)
    for method, path, pipelines, handler in router.table(): ...
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bitnexus.exceptions import Misuse
from bitnexus.web.request_keys import ROUTE_KEY

__all__ = ["Handler", "Param", "Plug", "Route", "Router", "Scope"]

Plug = Callable[[web.Request], Awaitable[None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Param = tuple[str, "str | dict[str, Any]", str]
"""``(name, schema, description)``: ``schema`` is a JSON Schema type name
(``"integer"``) or a JSON Schema object (``{"type": "integer", "minimum": 1}``)."""

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
_PATH_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Route:
    """One route of the table printed by ``bitnexus routes`` and documented in OpenAPI.

    Attributes:
        method: HTTP method, upper case.
        path: aiohttp path template (``/api/v1/products/{id}``).
        handler: the controller action.
        pipelines: names of the pipelines run before the handler, in order.
        summary: one line for people (OpenAPI ``summary``).
        permission: what :func:`~bitnexus.web.plugs.authorize` requires, or ``None``.
        request_schema: JSON Schema of the JSON body, or ``None`` for no body.
        response_schema: JSON Schema of the success body, or ``None`` for no body.
        query: documented query parameters (see :data:`Param`).
        headers: documented request headers (see :data:`Param`).
        statuses: success status first, then the route's own error statuses
            (those every route of its pipelines can return are added by OpenAPI).
        tags: OpenAPI tags.
    """

    method: str
    path: str
    handler: Handler
    pipelines: tuple[str, ...]
    summary: str = ""
    permission: Any = None
    request_schema: dict[str, Any] | None = None
    response_schema: dict[str, Any] | None = None
    query: tuple[Param, ...] = ()
    """(name, type or schema, description) of documented query parameters."""
    headers: tuple[Param, ...] = ()
    """(name, type or schema, description) of documented request headers."""
    statuses: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def handler_name(self) -> str:
        """``module.Qualified.name`` of the handler, for the route table."""
        fn = self.handler
        return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"

    @property
    def operation_id(self) -> str:
        """A stable OpenAPI ``operationId``: the controller (or module) + the action.

        ``ProductsController.index`` gives ``"products.index"``; a plain
        function ``index`` in ``bitnexus.web.api.products`` gives the same.
        """
        fn = self.handler
        qualname = getattr(fn, "__qualname__", None) or type(fn).__name__
        owner, _, name = qualname.rpartition(".")
        owner = owner.rpartition(".")[2].removesuffix("Controller")
        if not owner or owner == "<locals>":
            owner = (getattr(fn, "__module__", "") or "").rpartition(".")[2]
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", owner).lower()
        return f"{snake}.{name}" if snake else name

    @property
    def path_params(self) -> tuple[str, ...]:
        """Names of the ``{placeholders}`` in :attr:`path`, in order."""
        return tuple(_PATH_PARAM.findall(self.path))


@dataclass
class Scope:
    """A path prefix plus the pipelines its routes go through."""

    router: Router
    prefix: str
    pipelines: tuple[str, ...]
    tags: tuple[str, ...] = field(default=())

    @contextlib.contextmanager
    def scope(
        self, prefix: str, *, pipe_through: tuple[str, ...] = (), tags: tuple[str, ...] = ()
    ) -> Iterator[Scope]:
        """A nested scope: prefixes and pipelines add up; ``tags`` replace."""
        yield Scope(
            self.router,
            self.prefix + prefix,
            self.pipelines + tuple(pipe_through),
            tags or self.tags,
        )

    def route(self, method: str, path: str, handler: Handler, **meta: Any) -> Route:
        """Add a route under this scope; ``meta`` are :class:`Route` fields."""
        meta.setdefault("tags", self.tags)
        return self.router.add(method, self.prefix + path, handler, self.pipelines, **meta)

    def get(self, path: str, handler: Handler, **meta: Any) -> Route:
        return self.route("GET", path, handler, **meta)

    def post(self, path: str, handler: Handler, **meta: Any) -> Route:
        return self.route("POST", path, handler, **meta)

    def put(self, path: str, handler: Handler, **meta: Any) -> Route:
        return self.route("PUT", path, handler, **meta)

    def patch(self, path: str, handler: Handler, **meta: Any) -> Route:
        return self.route("PATCH", path, handler, **meta)

    def delete(self, path: str, handler: Handler, **meta: Any) -> Route:
        return self.route("DELETE", path, handler, **meta)


class Router:
    """Pipelines, scopes and the route table."""

    def __init__(self) -> None:
        self._pipelines: dict[str, tuple[Plug, ...]] = {}
        self.routes: list[Route] = []

    @property
    def pipelines(self) -> dict[str, tuple[Plug, ...]]:
        """Pipeline name → its plugs (a copy)."""
        return dict(self._pipelines)

    def pipeline(self, name: str, *plugs: Plug) -> None:
        """Define the pipeline ``name`` as ``plugs`` run in order."""
        self._pipelines[name] = tuple(plugs)

    @contextlib.contextmanager
    def scope(
        self, prefix: str, *, pipe_through: tuple[str, ...] = (), tags: tuple[str, ...] = ()
    ) -> Iterator[Scope]:
        """A scope: routes added through it get ``prefix`` and ``pipe_through``."""
        yield Scope(self, prefix, tuple(pipe_through), tags)

    def add(
        self, method: str, path: str, handler: Handler, pipelines: tuple[str, ...], **meta: Any
    ) -> Route:
        """Add one route.

        Raises:
            Misuse: an unknown method or pipeline, or the same method and path twice.
        """
        method = method.upper()
        if method not in _METHODS:
            raise Misuse(f"route {method} {path}: unsupported method")
        for name in pipelines:
            if name not in self._pipelines:
                raise Misuse(f"route {method} {path}: unknown pipeline {name!r}")
        if any(r.method == method and r.path == path for r in self.routes):
            raise Misuse(f"route {method} {path} is already defined")
        route = Route(method, path, handler, pipelines, **meta)
        self.routes.append(route)
        return route

    def plugs_for(self, route: Route) -> tuple[Plug, ...]:
        """Every plug the route runs, in order."""
        return tuple(plug for name in route.pipelines for plug in self._pipelines[name])

    def install(self, app: web.Application) -> None:
        """Register every route on ``app``, each wrapped in its pipelines.

        Routes match in the order they were added, so add ``/users/me``
        before ``/users/{id}``.
        """
        for route in self.routes:
            app.router.add_route(route.method, route.path, self._compile(route))

    def _compile(self, route: Route) -> Handler:
        plugs = self.plugs_for(route)
        handler = route.handler

        async def run(request: web.Request) -> web.StreamResponse:
            request[ROUTE_KEY] = route
            for plug in plugs:
                await plug(request)
            return await handler(request)

        run.__qualname__ = f"pipeline[{route.method} {route.path}]"
        return run

    def table(self) -> list[tuple[str, str, str, str]]:
        """``(method, path, pipelines, handler)`` rows for ``bitnexus routes``."""
        return [(r.method, r.path, ",".join(r.pipelines), r.handler_name) for r in self.routes]

    def format_table(self) -> str:
        """The route table as aligned text columns with a header line.

        Example::

            print(router.format_table())
            # METHOD  PATH              PIPELINE  HANDLER
            # GET     /api/v1/products  api,...   bitnexus.web.api.products.ProductsController.index
        """
        rows = [("METHOD", "PATH", "PIPELINE", "HANDLER"), *self.table()]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        return "\n".join(
            "  ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True))
            + "  "
            + row[3]
            for row in rows
        )
