"""Products: the catalogue everybody reads and admins edit.

Deleting retires a product (``active = false``): it stays readable, because
past transactions point at it, but it can no longer be bought.

Example::

    products = ServicePool("products", lambda: ProductsService(db), size=10)
    tea = await products.call("create_product", name="Green tea", price_minor=4_50,
                              currency="EUR")
    page = await products.call("list_products", limit=20, offset=0, q="tea", max_price=5_00)
"""

from __future__ import annotations

import time
from typing import Any

from bitnexus.repo import Product, queries
from bitnexus.services._base import DatabaseService, DatabaseSource
from bitnexus.services.validation import (
    MAX_AMOUNT_MINOR,
    FieldErrors,
    check_currency,
    check_id,
    check_page,
)

__all__ = ["PRODUCT_FIELDS", "CatalogueCache", "ProductsService"]

#: The fields ``create_product`` takes and ``update_product`` may change.
PRODUCT_FIELDS = ("name", "description", "price_minor", "currency", "active")
_MAX_NAME = 200
_MAX_DESCRIPTION = 10_000
_MAX_QUERY = 200


def _check_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("can't be blank")
    name = value.strip()
    if len(name) > _MAX_NAME:
        raise ValueError(f"should be at most {_MAX_NAME} characters")
    return name


def _check_description(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    if len(value) > _MAX_DESCRIPTION:
        raise ValueError(f"should be at most {_MAX_DESCRIPTION} characters")
    return value


def _check_price(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("must be an integer number of minor units (cents)")
    if not 0 < value <= MAX_AMOUNT_MINOR:
        raise ValueError(f"must be greater than 0 and at most {MAX_AMOUNT_MINOR}")
    return value


def _check_bound(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_AMOUNT_MINOR:
        raise ValueError(f"must be an integer from 0 to {MAX_AMOUNT_MINOR}")
    return value


def _check_active(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


_CHECKS = {
    "name": _check_name,
    "description": _check_description,
    "price_minor": _check_price,
    "currency": check_currency,
    "active": _check_active,
}


class CatalogueCache:
    """Recently read catalogue pages, shared by the workers of one node.

    The catalogue is read on almost every request and written rarely, so
    reads are served from memory: a write through any worker of this node
    clears the cache at once, and every entry also expires after ``ttl``
    seconds so writes made on other nodes show within that time.

    Example::

        cache = CatalogueCache(ttl=2.0)
        pool = ServicePool("products", lambda: ProductsService(db, cache=cache))
    """

    def __init__(self, *, ttl: float = 2.0, max_entries: int = 1024) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[Any, tuple[float, Any]] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: Any) -> Any:
        entry = self._entries.get(key)
        if entry is not None and time.monotonic() - entry[0] < self.ttl:
            self.hits += 1
            return entry[1]
        self.misses += 1
        return None

    def put(self, key: Any, value: Any) -> None:
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[key] = (time.monotonic(), value)

    def clear(self) -> None:
        self._entries.clear()


class ProductsService(DatabaseService):
    """The product catalogue.

    Args:
        db: the database, or a function returning the running one.
        cache: pages of products shared by this node's workers (none by default).
    """

    operations = (
        "list_products",
        "get_product",
        "create_product",
        "update_product",
        "delete_product",
    )

    def __init__(self, db: DatabaseSource, *, cache: CatalogueCache | None = None) -> None:
        super().__init__(db)
        self.cache = cache

    def summary(self) -> Any:
        cache = self.cache
        return None if cache is None else {"cache_hits": cache.hits, "cache_misses": cache.misses}

    def _changed(self, product: Product) -> Product:
        if self.cache is not None:
            self.cache.clear()
        return product

    async def list_products(
        self,
        limit: int = 50,
        offset: int = 0,
        active: bool | None = True,
        currency: str | None = None,
        min_price: int | None = None,
        max_price: int | None = None,
        q: str | None = None,
    ) -> list[Product]:
        """One page of products in id order, filtered.

        Args:
            limit: page size, 1 to 1000.
            offset: products to skip.
            active: only for sale (``True``, the default), only retired
                (``False``) or both (``None``).
            currency: only prices in this ISO 4217 currency.
            min_price: only prices of at least this many minor units.
            max_price: only prices of at most this many minor units.
            q: only names containing this text, ignoring case (literally:
                ``%`` and ``_`` are not wildcards).

        Raises:
            ValidationFailed: a bad page or filter, or ``min_price > max_price`` (422).
        """
        errors = FieldErrors()
        check_page(errors, limit, offset)
        if active is not None:
            errors.check("active", _check_active, active)
        if currency is not None:
            errors.check("currency", check_currency, currency)
        if min_price is not None:
            errors.check("min_price", _check_bound, min_price)
        if max_price is not None:
            errors.check("max_price", _check_bound, max_price)
        if (
            "min_price" not in errors.errors
            and "max_price" not in errors.errors
            and min_price is not None
            and max_price is not None
            and min_price > max_price
        ):
            errors.add("max_price", "must be at least min_price")
        if q is not None:
            if not isinstance(q, str) or len(q) > _MAX_QUERY:
                errors.add("q", f"must be a string of at most {_MAX_QUERY} characters")
            else:
                q = q.strip() or None
        errors.raise_if_any()
        key = ("list", limit, offset, active, currency, min_price, max_price, q)
        cache = self.cache
        if cache is not None:
            page = cache.get(key)
            if page is not None:
                return page  # type: ignore[no-any-return]
        page = await queries.list_products(
            self.db,
            limit=limit,
            offset=offset,
            active=active,
            currency=currency,
            min_price=min_price,
            max_price=max_price,
            name_contains=q,
        )
        if cache is not None:
            cache.put(key, page)
        return page

    async def get_product(self, product_id: int) -> Product:
        """The product with this id, for sale or retired.

        Raises:
            NotFound: there is none (404).
        """
        return await queries.get_product(self.db, _valid_id(product_id))

    async def create_product(
        self,
        name: Any = None,
        description: Any = "",
        price_minor: Any = None,
        currency: Any = "USD",
        active: Any = True,
    ) -> Product:
        """Add a product (admin).

        Raises:
            ValidationFailed: a blank or long name (1..200), a price that is
                not a positive integer, a currency that is not ISO 4217 (422).
        """
        values = {
            "name": name,
            "description": description,
            "price_minor": price_minor,
            "currency": currency,
            "active": active,
        }
        return self._changed(await queries.create_product(self.db, **_checked(values)))

    async def update_product(self, product_id: int, **fields: Any) -> Product:
        """Change some of a product's fields (admin); the others keep their value.

        Past transactions keep the price they were charged.

        Raises:
            ValidationFailed: an unknown field or a bad value (422).
            NotFound: no such product (404).
        """
        product_id = _valid_id(product_id)
        return self._changed(await queries.update_product(self.db, product_id, **_checked(fields)))

    async def delete_product(self, product_id: int) -> Product:
        """Retire a product (admin): it stays readable but cannot be bought.

        Returns:
            The retired product.

        Raises:
            NotFound: no such product (404).
        """
        return self._changed(await queries.delete_product(self.db, _valid_id(product_id)))


def _valid_id(product_id: Any) -> int:
    errors = FieldErrors()
    checked = errors.check("product_id", check_id, product_id)
    errors.raise_if_any()
    assert checked is not None
    return checked


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    errors = FieldErrors()
    out: dict[str, Any] = {}
    for name, value in values.items():
        check = _CHECKS.get(name)
        if check is None:
            errors.add(name, "is not a product field")
            continue
        out[name] = errors.check(name, check, value)
    errors.raise_if_any()
    return out
