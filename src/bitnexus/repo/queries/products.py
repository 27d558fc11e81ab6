"""The product catalogue.

Deleting a product only retires it (``active = false``): past transactions
still point at it.

Example::

    tea = await create_product(db, name="Green tea", price_minor=4_50, currency="EUR")
    page = await list_products(db, active=True, currency="EUR", name_contains="tea", limit=20)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bitnexus.repo.database import Executor, using
from bitnexus.repo.queries._common import (
    UNSET,
    NotFound,
    Unset,
    assignments,
    check_page,
    refusing_violations,
)

__all__ = [
    "Product",
    "create_product",
    "delete_product",
    "get_product",
    "list_products",
    "update_product",
]

# currency is char(3); hand it out as text so callers compare plain strings.
_COLUMNS = (
    "id, name, description, price_minor, currency::text AS currency, active, created_at, updated_at"
)


@dataclass(frozen=True, slots=True)
class Product:
    """A row of ``products``.

    Attributes:
        id: the product's id.
        name: shown in listings; 1 to 200 characters.
        description: free text, possibly empty.
        price_minor: price in minor units (cents); always positive.
        currency: ISO 4217 code of the price.
        active: ``False`` once deleted; inactive products cannot be bought.
        created_at: when the row was inserted.
        updated_at: when the row last changed.
    """

    id: int
    name: str
    description: str
    price_minor: int
    currency: str
    active: bool
    created_at: datetime
    updated_at: datetime


def _product(row: Any) -> Product:
    return Product(**dict(row))


def _literal_pattern(text: str) -> str:
    r"""``%text%`` for ILIKE with ``\``, ``%`` and ``_`` in ``text`` matched literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def create_product(
    db: Executor,
    *,
    name: str,
    price_minor: int,
    currency: str = "USD",
    description: str = "",
    active: bool = True,
) -> Product:
    """Insert a product.

    Raises:
        Invalid: an empty or over-long name, a price that is not positive,
            or a currency that is not three capital letters.
    """
    with refusing_violations():
        async with using(db) as conn:
            row = await conn.fetchrow(
                "INSERT INTO products (name, description, price_minor, currency, active)"
                f" VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}",
                name, description, price_minor, currency, active,
            )  # fmt: skip
    return _product(row)


async def get_product(db: Executor, product_id: int) -> Product:
    """Return the product with this id, active or not.

    Raises:
        NotFound: there is no such product.
    """
    async with using(db) as conn:
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM products WHERE id = $1", product_id)
    if row is None:
        raise NotFound(f"product {product_id} does not exist")
    return _product(row)


async def list_products(
    db: Executor,
    *,
    limit: int = 50,
    offset: int = 0,
    active: bool | None = None,
    currency: str | None = None,
    min_price: int | None = None,
    max_price: int | None = None,
    name_contains: str | None = None,
) -> list[Product]:
    """Products in id order, filtered; ``None`` means "any" for every filter.

    Args:
        db: the database or a connection.
        limit: page size, 1 to 1000.
        offset: rows to skip.
        active: only active (``True``) or only retired (``False``) products.
        currency: only prices in this currency.
        min_price: only prices at least this many minor units.
        max_price: only prices at most this many minor units.
        name_contains: only names containing this text, ignoring case.
            ``%`` and ``_`` are matched literally, not as wildcards.

    Raises:
        Invalid: ``limit`` outside 1..1000 or a negative ``offset``.

    Example::

        cheap = await list_products(db, active=True, max_price=10_00, limit=10)
    """
    check_page(limit, offset)
    pattern = None if name_contains is None else _literal_pattern(name_contains)
    async with using(db) as conn:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM products"
            " WHERE ($1::boolean IS NULL OR active = $1)"
            " AND ($2::text IS NULL OR currency = $2::text)"
            " AND ($3::bigint IS NULL OR price_minor >= $3)"
            " AND ($4::bigint IS NULL OR price_minor <= $4)"
            " AND ($5::text IS NULL OR name ILIKE $5 ESCAPE '\\')"
            " ORDER BY id LIMIT $6 OFFSET $7",
            active, currency, min_price, max_price, pattern, limit, offset,
        )  # fmt: skip
    return [_product(row) for row in rows]


async def update_product(
    db: Executor,
    product_id: int,
    *,
    name: str | Unset = UNSET,
    description: str | Unset = UNSET,
    price_minor: int | Unset = UNSET,
    currency: str | Unset = UNSET,
    active: bool | Unset = UNSET,
) -> Product:
    """Change some of a product's fields; the ones left :data:`UNSET` keep their value.

    Past transactions keep the price they were charged.

    Raises:
        NotFound: there is no such product.
        Invalid: a value breaks the rules of :func:`create_product`.

    Example::

        await update_product(db, 3, price_minor=5_00)
    """
    sets, args = assignments(
        {
            "name": name,
            "description": description,
            "price_minor": price_minor,
            "currency": currency,
            "active": active,
        },
        first=2,
    )
    if not sets:
        return await get_product(db, product_id)
    with refusing_violations():
        async with using(db) as conn:
            row = await conn.fetchrow(
                f"UPDATE products SET {sets} WHERE id = $1 RETURNING {_COLUMNS}", product_id, *args
            )
    if row is None:
        raise NotFound(f"product {product_id} does not exist")
    return _product(row)


async def delete_product(db: Executor, product_id: int) -> Product:
    """Retire a product (``active = false``); it can no longer be bought.

    Raises:
        NotFound: there is no such product.
    """
    return await update_product(db, product_id, active=False)
