from __future__ import annotations

import asyncio

import pytest

from bitnexus.repo import NotFound
from bitnexus.services import ValidationFailed

from .conftest import Services


async def create(services: Services, **fields: object):
    return await services.products.call("create_product", **fields)


async def names(services: Services, **filters: object) -> list[str]:
    filters.setdefault("limit", 50)
    filters.setdefault("offset", 0)
    return [p.name for p in await services.products.call("list_products", **filters)]


async def test_a_created_product_can_be_read_back(services: Services):
    tea = await create(services, name=" Green tea ", price_minor=4_50, currency="EUR")

    assert (tea.name, tea.description, tea.price_minor, tea.currency, tea.active) == (
        "Green tea", "", 4_50, "EUR", True,
    )  # fmt: skip
    assert await services.products.call("get_product", product_id=tea.id) == tea


async def test_create_reports_every_bad_field(services: Services):
    with pytest.raises(ValidationFailed) as failed:
        await create(services, name="", price_minor=0, currency="eur", active="yes")

    assert set(failed.value.errors) == {"name", "price_minor", "currency", "active"}
    with pytest.raises(ValidationFailed) as missing:
        await create(services)
    assert set(missing.value.errors) == {"name", "price_minor"}


async def test_list_filters_by_currency_price_and_name_literally(services: Services):
    await create(services, name="Tea 100%", price_minor=3_00, currency="USD")
    await create(services, name="Tea leaves", price_minor=8_00, currency="USD")
    await create(services, name="Coffee", price_minor=5_00, currency="USD")
    await create(services, name="Thé", price_minor=4_00, currency="EUR")

    assert await names(services, currency="EUR") == ["Thé"]
    assert await names(services, min_price=4_00, max_price=8_00, currency="USD") == [
        "Tea leaves", "Coffee",
    ]  # fmt: skip
    assert await names(services, q="tea") == ["Tea 100%", "Tea leaves"]
    assert await names(services, q="%") == ["Tea 100%"]
    assert await names(services, limit=2, offset=1) == ["Tea leaves", "Coffee"]


async def test_list_refuses_bad_pages_and_filters(services: Services):
    with pytest.raises(ValidationFailed) as failed:
        await names(services, limit=1001, offset=-1, currency="usd", min_price=-1, q="x" * 201)
    assert set(failed.value.errors) == {"limit", "offset", "currency", "min_price", "q"}
    with pytest.raises(ValidationFailed) as crossed:
        await names(services, min_price=5, max_price=4)
    assert crossed.value.errors == {"max_price": ["must be at least min_price"]}


async def test_update_changes_only_the_given_fields(services: Services):
    tea = await create(services, name="Tea", description="Green", price_minor=4_50)

    updated = await services.products.call("update_product", product_id=tea.id, price_minor=5_00)

    assert (updated.name, updated.description, updated.price_minor) == ("Tea", "Green", 5_00)
    with pytest.raises(ValidationFailed) as failed:
        await services.products.call("update_product", product_id=tea.id, id=1, price_minor=-1)
    assert failed.value.errors == {
        "id": ["is not a product field"],
        "price_minor": ["must be greater than 0 and at most 1000000000000000"],
    }
    with pytest.raises(NotFound):
        await services.products.call("update_product", product_id=987_654, name="x")


async def test_a_deleted_product_is_retired_not_erased(services: Services):
    tea = await create(services, name="Tea", price_minor=4_50)

    retired = await services.products.call("delete_product", product_id=tea.id)

    assert retired.active is False
    assert await names(services) == []
    assert await names(services, active=False) == ["Tea"]
    assert await names(services, active=None) == ["Tea"]
    assert (await services.products.call("get_product", product_id=tea.id)).active is False


async def test_a_missing_product_is_not_found(services: Services):
    with pytest.raises(NotFound):
        await services.products.call("get_product", product_id=987_654)
    with pytest.raises(NotFound):
        await services.products.call("delete_product", product_id=987_654)


async def test_a_cached_catalogue_page_is_cleared_by_a_write_through_any_worker(database):
    from bitnexus.services.products import CatalogueCache, ProductsService

    cache = CatalogueCache(ttl=60.0)
    reader, writer = ProductsService(database, cache=cache), ProductsService(database, cache=cache)
    await writer.create_product(name="Tea", price_minor=450, currency="EUR")
    first = await reader.list_products(limit=10)
    assert [p.name for p in first] == ["Tea"]
    assert await reader.list_products(limit=10) is first  # served from memory
    await writer.create_product(name="Coffee", price_minor=300, currency="EUR")
    assert [p.name for p in await reader.list_products(limit=10)] == ["Tea", "Coffee"]


async def test_a_cached_catalogue_page_expires_after_its_ttl(database):
    from bitnexus.repo import queries
    from bitnexus.services.products import CatalogueCache, ProductsService

    cache = CatalogueCache(ttl=0.2)
    service = ProductsService(database, cache=cache)
    assert await service.list_products(limit=10) == []
    # A write that bypasses this node's workers (another node, say) shows after the ttl.
    await queries.create_product(database, name="Tea", description="", price_minor=450,
                                 currency="EUR", active=True)
    assert await service.list_products(limit=10) == []
    await asyncio.sleep(0.25)
    assert [p.name for p in await service.list_products(limit=10)] == ["Tea"]
