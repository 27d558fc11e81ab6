"""Router: scopes, pipelines, the route table, and compiled handlers."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from bitnexus.exceptions import Misuse
from bitnexus.web.errors import ApiError, error_middleware, json_response
from bitnexus.web.request_keys import ROUTE_KEY
from bitnexus.web.router import Router


async def index(request: web.Request) -> web.Response:
    return json_response({"route": request[ROUTE_KEY].path, "seen": request.get(SEEN, [])})


SEEN: web.RequestKey[list[str]] = web.RequestKey("seen")


def recorder(name: str) -> Any:
    async def plug(request: web.Request) -> None:
        request.setdefault(SEEN, []).append(name)

    return plug


async def halt(request: web.Request) -> None:
    raise ApiError(418, "halted")


def test_scopes_add_prefixes_and_pipelines_in_order() -> None:
    router = Router()
    router.pipeline("a", recorder("a"))
    router.pipeline("b", recorder("b"))
    with router.scope("/api", pipe_through=("a",), tags=("outer",)) as api:
        api.get("/x", index)
        with api.scope("/v1", pipe_through=("b",)) as inner:
            route = inner.post("/y", index, summary="why")
    assert router.table() == [
        ("GET", "/api/x", "a", f"{__name__}.index"),
        ("POST", "/api/v1/y", "a,b", f"{__name__}.index"),
    ]
    assert route.tags == ("outer",)
    assert route.summary == "why"


def test_a_route_through_an_unknown_pipeline_is_a_misuse() -> None:
    router = Router()
    with router.scope("", pipe_through=("missing",)) as scope, pytest.raises(Misuse):
        scope.get("/x", index)


def test_the_same_method_and_path_twice_is_a_misuse() -> None:
    router = Router()
    with router.scope("") as scope:
        scope.get("/x", index)
        scope.post("/x", index)
        with pytest.raises(Misuse, match="already defined"):
            scope.get("/x", index)


def test_route_knows_its_path_parameters_and_operation_id() -> None:
    router = Router()
    with router.scope("/api") as scope:
        route = scope.get("/users/{user_id}/items/{id}", index)
    assert route.path_params == ("user_id", "id")
    assert route.operation_id == "test_router.index"


def test_format_table_has_a_header_and_one_aligned_line_per_route() -> None:
    router = Router()
    router.pipeline("api")
    with router.scope("/api", pipe_through=("api",)) as scope:
        scope.get("/products", index)
        scope.delete("/products/{id}", index)
    lines = router.format_table().splitlines()
    assert lines[0].split() == ["METHOD", "PATH", "PIPELINE", "HANDLER"]
    assert lines[2].split() == ["DELETE", "/api/products/{id}", "api", f"{__name__}.index"]
    assert len({line.index("/api") for line in lines[1:]}) == 1


async def test_installed_routes_run_their_plugs_in_order_then_the_handler(
    aiohttp_client: Any,
) -> None:
    router = Router()
    router.pipeline("first", recorder("1"), recorder("2"))
    router.pipeline("second", recorder("3"))
    with router.scope("/api", pipe_through=("first", "second")) as scope:
        scope.get("/x", index)
    app = web.Application()
    router.install(app)
    client = await aiohttp_client(app)
    response = await client.get("/api/x")
    assert response.status == 200
    assert await response.json() == {"route": "/api/x", "seen": ["1", "2", "3"]}


async def test_a_plug_that_raises_halts_the_pipeline(aiohttp_client: Any) -> None:
    router = Router()
    router.pipeline("guard", halt)
    with router.scope("", pipe_through=("guard",)) as scope:
        scope.get("/x", index)
    app = web.Application(middlewares=[error_middleware])
    router.install(app)
    client = await aiohttp_client(app)
    response = await client.get("/x")
    assert response.status == 418
    assert await response.json() == {"errors": {"detail": "halted"}}


class WidgetsController:
    async def index(self, request: web.Request) -> web.Response:
        return json_response([])


def test_a_controller_actions_operation_id_names_the_controller_and_action() -> None:
    router = Router()
    with router.scope("") as scope:
        route = scope.get("/widgets", WidgetsController().index)
    assert route.operation_id == "widgets.index"
    assert route.handler_name == f"{__name__}.WidgetsController.index"
