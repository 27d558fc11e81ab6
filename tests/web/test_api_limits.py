"""The API's edges over real HTTP: body limits and formats, unknown routes,
request ids, and the one error shape, including when a service is down."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bitnexus.repo.testing import PostgresTestServer
from bitnexus.supervision import Supervisor
from bitnexus.web.keys import APPLICATION_KEY

from .api_support import Account, Api, running_api

pytestmark = pytest.mark.asyncio(loop_scope="module")

MAX_BODY = 4096


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(postgres_server: PostgresTestServer) -> AsyncIterator[Api]:
    async with running_api(postgres_server, {"http.max_body_size": MAX_BODY}) as api:
        yield api


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def user(api: Api) -> Account:
    return await api.account("user")


async def test_a_body_over_the_limit_is_a_413(api: Api) -> None:
    reply = await api.request(
        "POST", "auth/register", json={"email": "a@b.cd", "password": "x" * MAX_BODY}
    )
    assert reply.status == 413
    assert reply.errors == {"detail": f"request body over {MAX_BODY} bytes"}


async def test_an_anonymous_body_on_a_protected_route_is_never_read(api: Api) -> None:
    reply = await api.request("POST", "products", json={"pad": "x" * (MAX_BODY * 2)})
    assert reply.status == 401


async def test_a_body_that_is_not_json_is_a_415(api: Api) -> None:
    reply = await api.request(
        "POST", "auth/login", data="email=a@b.cd", headers={"content-type": "text/plain"}
    )
    assert reply.status == 415
    assert "application/json" in reply.errors["detail"]


@pytest.mark.parametrize("raw", ['{"email": ', "[1, 2]", "nul"])
async def test_malformed_json_or_a_non_object_is_a_400(api: Api, user: Account, raw: str) -> None:
    reply = await api.request(
        "PATCH",
        "users/me",
        token=user.token,
        data=raw,
        headers={"content-type": "application/json"},
    )
    assert reply.status == 400
    assert list(reply.errors) == ["detail"]


async def test_validation_errors_are_a_422_keyed_by_field(api: Api, user: Account) -> None:
    reply = await api.request("POST", "transactions", token=user.token, json={"product_id": -1})
    assert reply.status == 422
    assert reply.errors == {"product_id": ["must be greater than or equal to 1"]}


async def test_unknown_paths_are_a_json_404(api: Api) -> None:
    for path in ("/api/v1/nothing-here", "/api/v2/products", "/favicon.ico"):
        reply = await api.request("GET", path)
        assert (reply.status, reply.errors) == (404, {"detail": "not found"}), path


async def test_a_known_path_with_the_wrong_method_is_a_json_405(api: Api) -> None:
    reply = await api.request("DELETE", "auth/login")
    assert reply.status == 405
    assert "POST" in reply.headers["allow"]
    assert reply.errors == {"detail": "method not allowed"}


async def test_the_request_id_is_echoed_on_successes_and_errors(api: Api, user: Account) -> None:
    ok = await api.request("GET", "users/me", token=user.token, headers={"x-request-id": "rq-1"})
    assert (ok.status, ok.headers["x-request-id"]) == (200, "rq-1")
    failed = await api.request("GET", "users", token=user.token, headers={"x-request-id": "rq-2"})
    assert (failed.status, failed.headers["x-request-id"]) == (403, "rq-2")
    made = await api.request("GET", "openapi.json")
    assert len(made.headers["x-request-id"]) == 16


async def test_every_response_is_json(api: Api, user: Account) -> None:
    for method, path, token in [
        ("GET", "users/me", user.token),
        ("GET", "users", user.token),
        ("GET", "users/me", None),
        ("GET", "nowhere", None),
    ]:
        reply = await api.request(method, path, token=token)
        assert reply.headers["content-type"].startswith("application/json"), (path, reply)


async def test_a_service_that_is_down_answers_503_and_comes_back(api: Api, user: Account) -> None:
    root = api.app[APPLICATION_KEY].root
    await Supervisor.terminate_child(root, "bitnexus.products")
    try:
        reply = await api.request("GET", "products", token=user.token)
        assert reply.status == 503
        assert reply.headers["retry-after"] == "1"
        assert reply.errors == {
            "detail": "service unavailable",
            "request_id": reply.headers["x-request-id"],
        }
    finally:
        await Supervisor.restart_child(root, "bitnexus.products")
    assert (await api.request("GET", "products", token=user.token)).status == 200
