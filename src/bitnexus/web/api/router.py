"""The API's route table: every route under ``/api/v1``, its pipelines,
permission and schemas.

Pipelines:

- ``api``: per-IP rate limit. Every route.
- ``authenticated``: bearer JWT → principal, per-user rate limit, then the
  route's permission (``authorize``). Everything but auth and the document.
- ``json``: the JSON body (400/413/415). Routes that take a body; it runs
  after authentication, so an anonymous client's body is never read.

Products are readable by every authenticated role, not anonymously: one rule
(a token for everything but auth) keeps the RBAC matrix simple.

Example::

    router = build_router(platform)
    print(router.format_table())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from bitnexus import __version__
from bitnexus.auth.roles import Permission
from bitnexus.web.api import schemas as s
from bitnexus.web.api.accounts import AccountsController
from bitnexus.web.api.auth import AuthController
from bitnexus.web.api.products import ProductsController
from bitnexus.web.api.transactions import CommissionsController, TransactionsController
from bitnexus.web.errors import json_response
from bitnexus.web.openapi import openapi_document
from bitnexus.web.plugs import Authenticate, ParseJson, RateLimit, authorize
from bitnexus.web.router import Router

if TYPE_CHECKING:
    from bitnexus.platform import Platform

__all__ = ["API_PREFIX", "DocsController", "build_router"]

API_PREFIX = "/api/v1"
_DESCRIPTION = (
    "JSON in and out. Authenticate with `Authorization: Bearer <access_token>` from "
    'POST /api/v1/auth/login. Errors are always `{"errors": {...}}`: field → messages '
    "for 422, `detail` (and sometimes `reason`) otherwise."
)
_ROLE_FILTER = ("role", {"type": "string", "enum": ["admin", "user", "affiliate"]}, "one role")
_PRODUCT_FILTERS: tuple[tuple[str, Any, str], ...] = (
    (
        "active",
        {"type": "string", "enum": ["true", "all"], "default": "true"},
        "`true`: for sale; `all`: retired ones too (catalogue editors only)",
    ),
    ("currency", {"type": "string", "pattern": "^[A-Z]{3}$"}, "only prices in this currency"),
    ("min_price", {"type": "integer", "minimum": 0, "maximum": s.MAX_AMOUNT_MINOR}, "minor units"),
    ("max_price", {"type": "integer", "minimum": 0, "maximum": s.MAX_AMOUNT_MINOR}, "minor units"),
    ("q", {"type": "string", "maxLength": 200}, "name contains this text (any case)"),
)


class DocsController:
    """Serves the OpenAPI document of the router it is attached to."""

    def __init__(self) -> None:
        self.router: Router | None = None
        self._body: bytes | None = None

    def document(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of the attached router."""
        assert self.router is not None, "DocsController.router is set by build_router"
        return openapi_document(
            self.router,
            title="BitNexus API",
            version=__version__,
            description=_DESCRIPTION,
            components=s.COMPONENTS,
        )

    async def show(self, request: web.Request) -> web.Response:
        """The OpenAPI document (built once, then cached)."""
        if self._body is None:
            self._body = json_response(self.document()).body  # type: ignore[assignment]
        return web.Response(body=self._body, content_type="application/json")


def build_router(platform: Platform) -> Router:
    """The API router for ``platform``; nothing is started or called.

    Only ``platform.settings``, ``tokens``, ``ip_limiter`` and ``user_limiter``
    are read here; the service pools are used when requests arrive.

    Example::

        build_router(platform).install(app)
    """
    auth = AuthController(platform)
    accounts = AccountsController(platform)
    products = ProductsController(platform)
    transactions = TransactionsController(platform)
    commissions = CommissionsController(platform)
    docs = DocsController()

    router = Router()
    router.pipeline("api", RateLimit(platform.ip_limiter))
    router.pipeline(
        "authenticated",
        Authenticate(platform.tokens),
        RateLimit(platform.user_limiter, per_user=True),
        authorize,
    )
    router.pipeline("json", ParseJson(max_body=platform.settings.http.max_body_size))
    one, page = s.data, s.page_of

    # The table reads best one route per block, aligned by hand.
    # fmt: off
    with router.scope(API_PREFIX, pipe_through=("api",)) as api:
        with api.scope("/auth", pipe_through=("json",), tags=("auth",)) as public:
            public.post("/register", auth.register, summary="Create an account (role user)",
                        request_schema=s.REGISTER, response_schema=one(s.ref("User")),
                        statuses=(201, 409, 503))
            public.post("/login", auth.login, summary="Log in: access and refresh token",
                        request_schema=s.LOGIN, response_schema=one(s.ref("TokenPair")),
                        statuses=(200, 401, 503))
            public.post("/refresh", auth.refresh, summary="Trade a refresh token for a new pair",
                        request_schema=s.REFRESH, response_schema=one(s.ref("TokenPair")),
                        statuses=(200, 401, 503))
            public.post("/logout", auth.logout, summary="Revoke a refresh token",
                        request_schema=s.REFRESH, statuses=(204, 503))
        api.get("/openapi.json", docs.show, summary="This OpenAPI 3.1 document",
                response_schema={"type": "object"}, tags=("docs",))

        with api.scope("", pipe_through=("authenticated",)) as authed:
            with authed.scope("/users", tags=("users",)) as users:
                # /users/me before /users/{id}: routes match in order.
                users.get("/me", accounts.me, summary="Your account",
                          permission=Permission.USERS_READ_SELF,
                          response_schema=one(s.ref("User")), statuses=(200, 503))
                with users.scope("", pipe_through=("json",)) as body:
                    body.patch("/me", accounts.update_me,
                               summary="Change your display name or password",
                               permission=Permission.USERS_READ_SELF,
                               request_schema=s.USER_UPDATE,
                               response_schema=one(s.ref("User")), statuses=(200, 503))
                users.get("", accounts.index, summary="List accounts (admin)",
                          permission=Permission.USERS_MANAGE, query=(*s.PAGE, _ROLE_FILTER),
                          response_schema=page(s.ref("User")), statuses=(200, 503))
                users.get("/{id}", accounts.show, summary="One account (admin)",
                          permission=Permission.USERS_MANAGE,
                          response_schema=one(s.ref("User")), statuses=(200, 503))
                with users.scope("", pipe_through=("json",)) as body:
                    body.patch("/{id}", accounts.update,
                               summary="Change role, display name or referrer (admin)",
                               permission=Permission.USERS_MANAGE,
                               request_schema=s.ADMIN_USER_UPDATE,
                               response_schema=one(s.ref("User")), statuses=(200, 503))
                    body.post("/{id}/balance", accounts.adjust_balance,
                              summary="Credit or debit a balance (admin)",
                              permission=Permission.USERS_MANAGE,
                              request_schema=s.BALANCE_ADJUST,
                              response_schema=one(s.ref("User")), statuses=(200, 409, 503))

            with authed.scope("/products", tags=("products",)) as catalogue:
                catalogue.get("", products.index, summary="List products, filtered",
                              permission=Permission.PRODUCTS_READ,
                              query=(*s.PAGE, *_PRODUCT_FILTERS),
                              response_schema=page(s.ref("Product")), statuses=(200, 503))
                catalogue.get("/{id}", products.show, summary="One product",
                              permission=Permission.PRODUCTS_READ,
                              response_schema=one(s.ref("Product")), statuses=(200, 503))
                catalogue.delete("/{id}", products.delete,
                                 summary="Retire a product (admin)",
                                 permission=Permission.PRODUCTS_WRITE,
                                 response_schema=one(s.ref("Product")), statuses=(200, 503))
                with catalogue.scope("", pipe_through=("json",)) as body:
                    body.post("", products.create, summary="Add a product (admin)",
                              permission=Permission.PRODUCTS_WRITE,
                              request_schema=s.PRODUCT_CREATE,
                              response_schema=one(s.ref("Product")), statuses=(201, 503))
                    body.patch("/{id}", products.update, summary="Change a product (admin)",
                               permission=Permission.PRODUCTS_WRITE,
                               request_schema=s.PRODUCT_UPDATE,
                               response_schema=one(s.ref("Product")), statuses=(200, 503))

            with authed.scope("/transactions", tags=("transactions",)) as txs:
                txs.get("", transactions.index,
                        summary="Transactions you may see (own; referred users' for"
                        " affiliates; all for admins)",
                        permission=Permission.TRANSACTIONS_READ_OWN, query=s.PAGE,
                        response_schema=page(s.ref("Transaction")), statuses=(200, 503))
                txs.get("/{id}", transactions.show,
                        summary="One transaction with its history (404 if not yours to see)",
                        permission=Permission.TRANSACTIONS_READ_OWN,
                        response_schema=one(s.ref("Transaction")), statuses=(200, 503))
                txs.post("/{id}/refund", transactions.refund,
                         summary="Refund a completed purchase (admin)",
                         permission=Permission.TRANSACTIONS_REFUND,
                         response_schema=one(s.ref("Transaction")), statuses=(200, 409, 503))
                with txs.scope("", pipe_through=("json",)) as body:
                    body.post("", transactions.create,
                              summary="Buy a product from your balance (409 when it fails)",
                              permission=Permission.TRANSACTIONS_CREATE,
                              request_schema=s.PURCHASE, headers=(s.IDEMPOTENCY_KEY,),
                              response_schema=one(s.ref("Transaction")),
                              statuses=(201, 404, 409, 503))

            authed.get("/commissions", commissions.index,
                       summary="Commissions: your own (affiliate) or ?affiliate_id= (admin)",
                       permission=Permission.COMMISSIONS_READ_OWN,
                       query=(*s.PAGE, ("affiliate_id", s.ID, "required for admins")),
                       response_schema=page(s.ref("Commission")), statuses=(200, 403, 503),
                       tags=("commissions",))
    # fmt: on

    docs.router = router
    return router
