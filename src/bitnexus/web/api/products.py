"""Products controller: the catalogue every authenticated role reads and admins edit.

Listing shows products for sale; ``?active=all`` adds retired ones and is
for those who may edit the catalogue (``products:write``). A retired product
stays readable by id, because past transactions point at it.

Example::

    GET /api/v1/products?currency=EUR&max_price=1000&q=tea&limit=20
    → 200 {"data": [{"id": 3, "name": "Green tea", "price": {...}, ...}], "meta": {...}}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from bitnexus.auth.roles import Permission, has_permission
from bitnexus.web.api import params
from bitnexus.web.api.views import one, page, product_view
from bitnexus.web.errors import ApiError, json_response
from bitnexus.web.request_keys import PRINCIPAL_KEY

if TYPE_CHECKING:
    from bitnexus.platform import Platform

__all__ = ["ProductsController"]

_FILTERS = ("currency", "min_price", "max_price", "q")


class ProductsController:
    """Actions of ``/api/v1/products``.

    Args:
        platform: where the products service pool lives.
    """

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._rendered: tuple[Any, tuple[int, int], bytes] | None = None

    async def index(self, request: web.Request) -> web.Response:
        """One page of products, filtered."""
        query = params.query(request)
        show_all = query["active"] == "all"
        if show_all and not has_permission(request[PRINCIPAL_KEY], Permission.PRODUCTS_WRITE):
            raise ApiError(403, {"active": ["only catalogue editors may list retired products"]})
        products = await self.platform.products.call(
            "list_products",
            limit=query["limit"],
            offset=query["offset"],
            active=None if show_all else True,
            **{name: query[name] for name in _FILTERS if name in query},
        )
        # The service hands back the same cached page object until the
        # catalogue changes; render it once per page object, not per request.
        cached = self._rendered
        window = (query["limit"], query["offset"])
        if cached is not None and cached[0] is products and cached[1] == window:
            return _json_body(cached[2])
        body = orjson.dumps(
            page([product_view(p) for p in products], limit=query["limit"], offset=query["offset"])
        )
        self._rendered = (products, window, body)
        return _json_body(body)

    async def show(self, request: web.Request) -> web.Response:
        """One product, for sale or retired."""
        product = await self.platform.products.call(
            "get_product", product_id=params.path_id(request)
        )
        return json_response(one(product_view(product)))

    async def create(self, request: web.Request) -> web.Response:
        """Add a product (admin); 201."""
        body = params.body(request)
        product = await self.platform.products.call("create_product", **body)
        return json_response(
            one(product_view(product)),
            status=201,
            headers={"location": f"{request.path}/{product.id}"},
        )

    async def update(self, request: web.Request) -> web.Response:
        """Change some fields of a product (admin)."""
        product_id = params.path_id(request)
        body = params.body(request)
        product = await self.platform.products.call("update_product", product_id=product_id, **body)
        return json_response(one(product_view(product)))

    async def delete(self, request: web.Request) -> web.Response:
        """Retire a product (admin); 200 with the retired product."""
        product = await self.platform.products.call(
            "delete_product", product_id=params.path_id(request)
        )
        return json_response(one(product_view(product)))


def _json_body(body: bytes) -> web.Response:
    return web.Response(body=body, content_type="application/json")
