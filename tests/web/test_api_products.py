"""/api/v1/products: every signed-in role reads, admins edit; filters and pagination."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bitnexus.repo.testing import PostgresTestServer

from .api_support import Account, Api, running_api

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(postgres_server: PostgresTestServer) -> AsyncIterator[Api]:
    async with running_api(postgres_server) as api:
        yield api


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def admin(api: Api) -> Account:
    return await api.account("admin")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def user(api: Api) -> Account:
    return await api.account("user")


async def test_an_admin_creates_a_product_and_everyone_signed_in_reads_it(
    api: Api, admin: Account, user: Account
) -> None:
    created = await api.request(
        "POST",
        "products",
        token=admin.token,
        json={"name": "Green tea", "description": "loose", "price_minor": 4_50, "currency": "EUR"},
    )
    assert created.status == 201
    product = created.data
    assert product["price"] == {"amount_minor": 4_50, "currency": "EUR"}
    assert product["active"] is True
    assert created.headers["location"] == f"/api/v1/products/{product['id']}"
    shown = await api.request("GET", f"products/{product['id']}", token=user.token)
    assert (shown.status, shown.data) == (200, product)


async def test_product_fields_are_validated_all_at_once(api: Api, admin: Account) -> None:
    reply = await api.request(
        "POST",
        "products",
        token=admin.token,
        json={"name": "", "price_minor": 0, "currency": "euro", "colour": "red"},
    )
    assert reply.status == 422
    assert set(reply.errors) == {"name", "price_minor", "currency", "colour"}


async def test_an_admin_updates_and_retires_a_product(
    api: Api, admin: Account, user: Account
) -> None:
    product_id = await api.product(price_minor=1_00)
    updated = await api.request(
        "PATCH", f"products/{product_id}", token=admin.token, json={"price_minor": 2_00}
    )
    assert (updated.status, updated.data["price"]["amount_minor"]) == (200, 2_00)
    retired = await api.request("DELETE", f"products/{product_id}", token=admin.token)
    assert (retired.status, retired.data["active"]) == (200, False)
    listed = await api.request("GET", "products?limit=1000", token=user.token)
    assert product_id not in [p["id"] for p in listed.data]
    # Past transactions point at retired products: they stay readable by id.
    shown = await api.request("GET", f"products/{product_id}", token=user.token)
    assert (shown.status, shown.data["active"]) == (200, False)
    everything = await api.request("GET", "products?active=all&limit=1000", token=admin.token)
    assert product_id in [p["id"] for p in everything.data]


async def test_only_catalogue_editors_list_retired_products(api: Api, user: Account) -> None:
    reply = await api.request("GET", "products?active=all", token=user.token)
    assert reply.status == 403
    assert "active" in reply.errors


async def test_filters_by_currency_price_and_name(api: Api, user: Account) -> None:
    tag = secrets.token_hex(3)
    cheap = await api.product(name=f"{tag} cheap tea", price_minor=1_00, currency="GBP")
    dear = await api.product(name=f"{tag} dear tea", price_minor=9_00, currency="GBP")
    await api.product(name=f"{tag} coffee", price_minor=5_00, currency="JPY")
    by_name = await api.request("GET", f"products?q={tag}%20CHEAP", token=user.token)
    assert [p["id"] for p in by_name.data] == [cheap]
    by_price = await api.request(
        "GET", f"products?q={tag}&currency=GBP&min_price=500", token=user.token
    )
    assert [p["id"] for p in by_price.data] == [dear]
    window = await api.request(
        "GET", f"products?q={tag}&min_price=100&max_price=500", token=user.token
    )
    assert {p["price"]["currency"] for p in window.data} == {"GBP", "JPY"}


async def test_pagination_walks_the_catalogue_in_id_order(api: Api, user: Account) -> None:
    tag = secrets.token_hex(3)
    ids = [await api.product(name=f"{tag}-{n}") for n in range(5)]
    pages = []
    for offset in (0, 2, 4):
        reply = await api.request(
            "GET", f"products?q={tag}&limit=2&offset={offset}", token=user.token
        )
        assert reply.body["meta"] == {"limit": 2, "offset": offset, "count": len(reply.data)}
        pages.extend(p["id"] for p in reply.data)
    assert pages == ids


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=5000", "limit"),
        ("offset=-3", "offset"),
        ("currency=usd", "currency"),
        ("min_price=-1", "min_price"),
        ("max_price=cheap", "max_price"),
        ("active=no", "active"),
        ("min_price=500&max_price=100", "max_price"),
        ("q=" + "x" * 201, "q"),
    ],
)
async def test_bad_filters_are_a_422_naming_the_parameter(
    api: Api, user: Account, query: str, field: str
) -> None:
    reply = await api.request("GET", f"products?{query}", token=user.token)
    assert reply.status == 422
    assert list(reply.errors) == [field]


async def test_a_missing_product_is_a_404(api: Api, admin: Account) -> None:
    for method, path in [
        ("GET", "products/987654"),
        ("PATCH", "products/987654"),
        ("DELETE", "products/987654"),
        ("GET", "products/99999999999999999999"),
    ]:
        reply = await api.request(
            method, path, token=admin.token, json={} if method == "PATCH" else None
        )
        assert reply.status == 404, (method, path)
