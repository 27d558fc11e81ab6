from __future__ import annotations

import pytest

from bitnexus.repo.database import Database
from bitnexus.repo.queries import (
    Invalid,
    NotFound,
    create_product,
    delete_product,
    get_product,
    list_products,
    update_product,
)
from bitnexus.repo.testing import make_product


async def test_created_product_reads_back_with_its_currency_as_plain_text(database: Database):
    created = await create_product(database, name="Green tea", price_minor=4_50, currency="EUR",
                                   description="loose leaf")  # fmt: skip
    fetched = await get_product(database, created.id)
    assert fetched == created
    assert (fetched.currency, fetched.active, fetched.description) == ("EUR", True, "loose leaf")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"price_minor": 0}, "price must be positive"),
        ({"price_minor": -5}, "price must be positive"),
        ({"currency": "eur"}, "currency must be three capital letters"),
        ({"currency": "EURO"}, "too long"),
        ({"name": ""}, "name must be 1 to 200 characters"),
    ],
)
async def test_values_the_schema_forbids_are_invalid(
    database: Database, fields: dict[str, object], message: str
):
    values: dict[str, object] = {"name": "Tea", "price_minor": 100, **fields}
    with pytest.raises(Invalid, match=message):
        await create_product(database, **values)  # type: ignore[arg-type]


async def test_missing_product_is_not_found(database: Database):
    with pytest.raises(NotFound, match="product 404 does not exist"):
        await get_product(database, 404)


async def test_list_filters_by_activity_currency_price_range_and_name(database: Database):
    tea = await make_product(database, name="Green Tea", price_minor=4_50, currency="EUR")
    mug = await make_product(database, name="Tea mug", price_minor=12_00, currency="EUR")
    pot = await make_product(database, name="Teapot", price_minor=30_00, currency="USD")
    old = await make_product(database, name="Old tea", price_minor=1_00, currency="EUR",
                             active=False)  # fmt: skip
    await make_product(database, name="Coffee", price_minor=5_00, currency="EUR")

    async def ids(**filters: object) -> list[int]:
        return [p.id for p in await list_products(database, **filters)]  # type: ignore[arg-type]

    assert await ids(name_contains="TEA") == [tea.id, mug.id, pot.id, old.id]
    assert await ids(name_contains="tea", active=True) == [tea.id, mug.id, pot.id]
    assert await ids(name_contains="tea", active=False) == [old.id]
    assert await ids(name_contains="tea", currency="USD") == [pot.id]
    assert await ids(name_contains="tea", min_price=4_50, max_price=12_00) == [tea.id, mug.id]
    assert await ids(min_price=31_00) == []


async def test_pages_cover_every_product_once_in_id_order(database: Database):
    made = [await make_product(database) for _ in range(7)]
    pages = [await list_products(database, limit=3, offset=offset) for offset in (0, 3, 6, 9)]
    assert [len(page) for page in pages] == [3, 3, 1, 0]
    assert [p.id for page in pages for p in page] == [p.id for p in made]


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (1001, 0), (10, -1)])
async def test_out_of_range_pages_are_invalid(database: Database, limit: int, offset: int):
    with pytest.raises(Invalid):
        await list_products(database, limit=limit, offset=offset)


async def test_sql_in_the_name_filter_is_searched_for_literally(database: Database):
    attack = "x'; DROP TABLE products; --"
    plain = await make_product(database, name="Plain tea")
    odd = await make_product(database, name=f"Tea {attack}")
    assert [p.id for p in await list_products(database, name_contains=attack)] == [odd.id]
    assert await list_products(database, name_contains="' OR '1'='1") == []
    assert [p.id for p in await list_products(database)] == [plain.id, odd.id]


async def test_wildcards_in_the_name_filter_match_only_themselves(database: Database):
    await make_product(database, name="Tea")
    half = await make_product(database, name="50% off tea")
    under = await make_product(database, name="tea_bag")
    slash = await make_product(database, name="back\\slash")
    assert [p.id for p in await list_products(database, name_contains="%")] == [half.id]
    assert [p.id for p in await list_products(database, name_contains="_")] == [under.id]
    assert [p.id for p in await list_products(database, name_contains="\\")] == [slash.id]


async def test_update_changes_only_given_fields(database: Database):
    product = await make_product(database, name="Tea", price_minor=1_00)
    updated = await update_product(database, product.id, price_minor=2_00, description="new")
    assert (updated.name, updated.price_minor, updated.description) == ("Tea", 2_00, "new")
    assert updated.updated_at >= product.updated_at
    with pytest.raises(Invalid):
        await update_product(database, product.id, price_minor=0)
    with pytest.raises(NotFound):
        await update_product(database, 999, name="Nothing")


async def test_delete_retires_the_product_but_keeps_it_readable(database: Database):
    product = await make_product(database)
    deleted = await delete_product(database, product.id)
    assert deleted.active is False
    assert (await get_product(database, product.id)).active is False
    assert await list_products(database, active=True) == []
    with pytest.raises(NotFound):
        await delete_product(database, 999)
