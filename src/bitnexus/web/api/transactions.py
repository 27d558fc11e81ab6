"""Transactions and commissions controllers: buy, list, show, refund.

Who sees what is decided by the transactions service, never here: lists are
scoped by the caller's id and role, and a single transaction is shown only
when ``can_view`` says so. A transaction the caller may not see answers 404,
exactly like one that does not exist, so ids reveal nothing.

A purchase that completes answers 201. One that fails for lack of money (or
a currency mismatch) is recorded as ``failed`` and answers 409 with
``{"errors": {"detail", "reason", "transaction_id"}}``. With an
``Idempotency-Key`` header, a retry gets the first outcome again (with
``idempotent-replayed: true``) and is never charged twice; the same key for
another product is a 409.

Example::

    POST /api/v1/transactions  Idempotency-Key: 6f1c...  {"product_id": 3}
    → 201 {"data": {"id": 9, "status": "completed", "history": [...], ...}}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bitnexus.auth.roles import Permission, has_permission
from bitnexus.web.api import params
from bitnexus.web.api.views import commission_view, one, page, transaction_view
from bitnexus.web.errors import ApiError, json_response
from bitnexus.web.request_keys import PRINCIPAL_KEY

if TYPE_CHECKING:
    from bitnexus.platform import Platform

__all__ = ["CommissionsController", "TransactionsController"]

_FAILURES = {
    "insufficient_funds": "insufficient funds",
    "currency_mismatch": "the product's currency is not the account's",
}


class TransactionsController:
    """Actions of ``/api/v1/transactions``.

    Args:
        platform: where the transactions service pool lives.
    """

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def create(self, request: web.Request) -> web.Response:
        """Buy one product for the caller from their balance."""
        body = params.body(request)
        key = params.header(request, "Idempotency-Key")
        result = await self.platform.transactions.call(
            "purchase",
            user_id=request[PRINCIPAL_KEY].user_id,
            product_id=body["product_id"],
            idempotency_key=key,
        )
        tx = result.transaction
        headers = {"location": f"{request.path}/{tx.id}"}
        if result.replayed:
            headers["idempotent-replayed"] = "true"
        if tx.status != "completed":
            reason = tx.failure_reason or "failed"
            raise ApiError(
                409,
                {
                    "detail": _FAILURES.get(reason, "the purchase failed"),
                    "reason": reason,
                    "transaction_id": tx.id,
                },
                headers=headers,
            )
        return json_response(one(transaction_view(tx, result.history)), status=201, headers=headers)

    async def index(self, request: web.Request) -> web.Response:
        """The transactions the caller may see, newest first."""
        query = params.query(request)
        principal = request[PRINCIPAL_KEY]
        transactions = await self.platform.transactions.call(
            "list_transactions",
            principal_user_id=principal.user_id,
            role=principal.role.value,
            limit=query["limit"],
            offset=query["offset"],
        )
        return json_response(
            page(
                [transaction_view(tx) for tx in transactions],
                limit=query["limit"],
                offset=query["offset"],
            )
        )

    async def show(self, request: web.Request) -> web.Response:
        """One transaction with its history: owner, referring affiliate or admin."""
        transaction_id = params.path_id(request)
        principal = request[PRINCIPAL_KEY]
        allowed = await self.platform.transactions.call(
            "can_view",
            user_id=principal.user_id,
            role=principal.role.value,
            transaction_id=transaction_id,
        )
        if not allowed:
            raise ApiError(404)
        tx, history = await self.platform.transactions.call(
            "get_transaction", transaction_id=transaction_id
        )
        return json_response(one(transaction_view(tx, history)))

    async def refund(self, request: web.Request) -> web.Response:
        """Refund a completed purchase (admin); 409 when it is not completed."""
        result = await self.platform.transactions.call(
            "refund", transaction_id=params.path_id(request)
        )
        return json_response(one(transaction_view(result.transaction, result.history)))


class CommissionsController:
    """Actions of ``/api/v1/commissions``.

    Args:
        platform: where the transactions service pool lives.
    """

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def index(self, request: web.Request) -> web.Response:
        """An affiliate's commissions: their own, or any affiliate's for an admin
        (``?affiliate_id=``, required then)."""
        query = params.query(request)
        principal = request[PRINCIPAL_KEY]
        affiliate_id = query.get("affiliate_id")
        if has_permission(principal, Permission.TRANSACTIONS_READ_ALL):
            if affiliate_id is None:
                raise ApiError(422, {"affiliate_id": ["can't be blank"]})
        elif affiliate_id is None:
            affiliate_id = principal.user_id
        elif affiliate_id != principal.user_id:
            raise ApiError(403, {"affiliate_id": ["may only be your own id"]})
        commissions = await self.platform.transactions.call(
            "list_commissions",
            affiliate_id=affiliate_id,
            limit=query["limit"],
            offset=query["offset"],
        )
        return json_response(
            page(
                [commission_view(c) for c in commissions],
                limit=query["limit"],
                offset=query["offset"],
            )
        )
