"""The RBAC matrix: every role (anonymous, user, affiliate, admin) by every route.

The expected table is written out below. A role the table allows must get a
2xx for a well-formed request; a role it does not allow gets 403 (or 401 when
anonymous). A test also checks that the table covers exactly the router's
routes, so a new route cannot ship without a decision here.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from bitnexus.config import load_settings
from bitnexus.platform import Platform
from bitnexus.repo.testing import PostgresTestServer
from bitnexus.web.api import build_router

from .api_support import PASSWORD, Account, Api, running_api

pytestmark = pytest.mark.asyncio(loop_scope="module")

ANONYMOUS, USER, AFFILIATE, ADMIN = "anonymous", "user", "affiliate", "admin"
ROLES = (ANONYMOUS, USER, AFFILIATE, ADMIN)
EVERYONE = frozenset(ROLES)
SIGNED_IN = frozenset({USER, AFFILIATE, ADMIN})
ONLY_ADMIN = frozenset({ADMIN})

MATRIX: dict[tuple[str, str], frozenset[str]] = {
    ("POST", "/api/v1/auth/register"): EVERYONE,
    ("POST", "/api/v1/auth/login"): EVERYONE,
    ("POST", "/api/v1/auth/refresh"): EVERYONE,
    ("POST", "/api/v1/auth/logout"): EVERYONE,
    ("GET", "/api/v1/openapi.json"): EVERYONE,
    ("GET", "/api/v1/users/me"): SIGNED_IN,
    ("PATCH", "/api/v1/users/me"): SIGNED_IN,
    ("GET", "/api/v1/users"): ONLY_ADMIN,
    ("GET", "/api/v1/users/{id}"): ONLY_ADMIN,
    ("PATCH", "/api/v1/users/{id}"): ONLY_ADMIN,
    ("POST", "/api/v1/users/{id}/balance"): ONLY_ADMIN,
    ("GET", "/api/v1/products"): SIGNED_IN,
    ("GET", "/api/v1/products/{id}"): SIGNED_IN,
    ("POST", "/api/v1/products"): ONLY_ADMIN,
    ("PATCH", "/api/v1/products/{id}"): ONLY_ADMIN,
    ("DELETE", "/api/v1/products/{id}"): ONLY_ADMIN,
    ("POST", "/api/v1/transactions"): SIGNED_IN,
    ("GET", "/api/v1/transactions"): SIGNED_IN,
    # {id} is the user's purchase: its owner, their referring affiliate, any admin.
    ("GET", "/api/v1/transactions/{id}"): SIGNED_IN,
    ("POST", "/api/v1/transactions/{id}/refund"): ONLY_ADMIN,
    ("GET", "/api/v1/commissions"): frozenset({AFFILIATE, ADMIN}),
}


@dataclass
class World:
    accounts: dict[str, Account]
    product_id: int
    transaction_id: int


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(postgres_server: PostgresTestServer) -> AsyncIterator[Api]:
    async with running_api(postgres_server) as api:
        yield api


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(api: Api) -> World:
    admin = await api.account(ADMIN, balance_minor=1000_00)
    affiliate = await api.account(AFFILIATE, balance_minor=1000_00)
    user = await api.account(USER, balance_minor=1000_00, referred_by=affiliate.id)
    product_id = await api.product(price_minor=1_00)
    bought = await api.request(
        "POST", "transactions", token=user.token, json={"product_id": product_id}
    )
    assert bought.status == 201
    return World({ADMIN: admin, AFFILIATE: affiliate, USER: user}, product_id, bought.data["id"])


async def fresh_refresh_token(api: Api, world: World) -> str:
    user = world.accounts[USER]
    login = await api.request(
        "POST", "auth/login", json={"email": user.email, "password": PASSWORD}
    )
    return str(login.data["refresh_token"])


async def well_formed(api: Api, world: World, method: str, path: str) -> tuple[str, Any]:
    """A request to the route that succeeds for an allowed role: (url path, JSON body)."""
    user, affiliate = world.accounts[USER], world.accounts[AFFILIATE]
    route = (method, path)
    if route == ("POST", "/api/v1/auth/register"):
        email = f"rbac-{secrets.token_hex(4)}@example.test"
        return path, {"email": email, "password": PASSWORD}
    if route == ("POST", "/api/v1/auth/login"):
        return path, {"email": user.email, "password": PASSWORD}
    if route in (("POST", "/api/v1/auth/refresh"), ("POST", "/api/v1/auth/logout")):
        return path, {"refresh_token": await fresh_refresh_token(api, world)}
    if route == ("PATCH", "/api/v1/users/me"):
        return path, {"display_name": "RBAC"}
    if route == ("PATCH", "/api/v1/users/{id}"):
        return path.replace("{id}", str(user.id)), {"display_name": "Checked"}
    if route == ("POST", "/api/v1/users/{id}/balance"):
        return path.replace("{id}", str(user.id)), {"amount_minor": 1}
    if route == ("POST", "/api/v1/products"):
        return path, {"name": f"rbac-{secrets.token_hex(3)}", "price_minor": 100, "currency": "USD"}
    if route == ("PATCH", "/api/v1/products/{id}"):
        return path.replace("{id}", str(world.product_id)), {"description": "checked"}
    if route == ("DELETE", "/api/v1/products/{id}"):
        return path.replace("{id}", str(await api.product())), None
    if route == ("POST", "/api/v1/transactions"):
        return path, {"product_id": world.product_id}
    if route == ("POST", "/api/v1/transactions/{id}/refund"):
        bought = await api.request(
            "POST", "transactions", token=user.token, json={"product_id": world.product_id}
        )
        return path.replace("{id}", str(bought.data["id"])), None
    if route == ("GET", "/api/v1/commissions"):
        return f"{path}?affiliate_id={affiliate.id}", None
    return (
        path.replace("{id}", str(world.transaction_id))
        if path.startswith("/api/v1/transactions/")
        else path.replace("{id}", str(user.id if "/users/" in path else world.product_id))
    ), None


async def test_the_matrix_covers_every_route_of_the_router() -> None:
    router = build_router(Platform(load_settings("test", environ={})))
    assert set(MATRIX) == {(r.method, r.path) for r in router.routes}


@pytest.mark.parametrize(("method", "path"), list(MATRIX), ids=[f"{m} {p}" for m, p in MATRIX])
async def test_only_the_allowed_roles_pass(api: Api, world: World, method: str, path: str) -> None:
    allowed = MATRIX[(method, path)]
    outcomes: dict[str, int] = {}
    for role in ROLES:
        url, body = await well_formed(api, world, method, path)
        token = None if role == ANONYMOUS else world.accounts[role].token
        reply = await api.request(method, url, token=token, json=body)
        outcomes[role] = reply.status
        if role in allowed:
            assert 200 <= reply.status < 300, (role, reply.status, reply.body)
        else:
            expected = 401 if role == ANONYMOUS else 403
            assert reply.status == expected, (role, reply.status, reply.body)
            assert set(reply.body) == {"errors"}
    assert {role for role, status in outcomes.items() if status < 300} == allowed
