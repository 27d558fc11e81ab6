"""Router with scopes and pipelines, compiled to aiohttp routes (like Phoenix's router).

A pipeline is an ordered list of plugs; a plug is ``async plug(request) ->
None`` that may raise :class:`~bitnexus.web.errors.ApiError` to halt. A scope
adds a path prefix and the pipelines its routes run through.

Example::

    router = Router()
    router.pipeline("api", request_id, parse_json)
    router.pipeline("auth", authenticate)
    with router.scope("/api/v1", pipe_through=("api",)) as api:
        api.get("/products", products.index, summary="List products")
        with api.scope("", pipe_through=("auth",)) as authed:
            authed.post("/transactions", transactions.create,
                        permission=Permission.TRANSACTIONS_CREATE)
    router.install(app)
    for route in router.routes: print(route.method, route.path, route.pipelines)
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bitnexus.exceptions import Misuse

__all__ = ["Handler", "Plug", "Route", "Router", "Scope"]

Plug = Callable[[web.Request], Awaitable[None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    """One route of the table printed by ``bitnexus routes`` and documented in OpenAPI."""

    method: str
    path: str
    handler: Handler
    pipelines: tuple[str, ...]
    summary: str = ""
    permission: Any = None
    request_schema: dict[str, Any] | None = None
    response_schema: dict[str, Any] | None = None
    query: tuple[tuple[str, str, str], ...] = ()
    """(name, type, description) of documented query parameters."""
    statuses: tuple[int, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def handler_name(self) -> str:
        fn = self.handler
        return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


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
        yield Scope(
            self.router,
            self.prefix + prefix,
            self.pipelines + tuple(pipe_through),
            tags or self.tags,
        )

    def route(self, method: str, path: str, handler: Handler, **meta: Any) -> Route:
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

    def pipeline(self, name: str, *plugs: Plug) -> None:
        """Define the pipeline ``name`` as ``plugs`` run in order."""
        self._pipelines[name] = tuple(plugs)

    @contextlib.contextmanager
    def scope(
        self, prefix: str, *, pipe_through: tuple[str, ...] = (), tags: tuple[str, ...] = ()
    ) -> Iterator[Scope]:
        yield Scope(self, prefix, tuple(pipe_through), tags)

    def add(
        self, method: str, path: str, handler: Handler, pipelines: tuple[str, ...], **meta: Any
    ) -> Route:
        for name in pipelines:
            if name not in self._pipelines:
                raise Misuse(f"route {method} {path}: unknown pipeline {name!r}")
        route = Route(method, path, handler, pipelines, **meta)
        self.routes.append(route)
        return route

    def plugs_for(self, route: Route) -> tuple[Plug, ...]:
        return tuple(plug for name in route.pipelines for plug in self._pipelines[name])

    def install(self, app: web.Application) -> None:
        """Register every route on ``app``, each wrapped in its pipelines."""
        for route in self.routes:
            app.router.add_route(route.method, route.path, self._compile(route))

    def _compile(self, route: Route) -> Handler:
        plugs = self.plugs_for(route)
        handler = route.handler

        async def run(request: web.Request) -> web.StreamResponse:
            request["route"] = route
            for plug in plugs:
                await plug(request)
            return await handler(request)

        run.__qualname__ = f"pipeline[{route.method} {route.path}]"
        return run

    def table(self) -> list[tuple[str, str, str, str]]:
        """``(method, path, pipelines, handler)`` rows for ``bitnexus routes``."""
        return [(r.method, r.path, ",".join(r.pipelines), r.handler_name) for r in self.routes]
