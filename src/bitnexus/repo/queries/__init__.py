"""Parameterised SQL for the platform, one module per table group.

- :mod:`~bitnexus.repo.queries.accounts`: users, balances, refresh tokens;
- :mod:`~bitnexus.repo.queries.products`: the catalogue;
- :mod:`~bitnexus.repo.queries.transactions`: purchases, refunds, commissions.

Every function takes an :data:`~bitnexus.repo.database.Executor` first and
returns frozen dataclasses. Refusals are :class:`NotFound` (404),
:class:`Conflict` (409), :class:`IdempotencyConflict` (409) and
:class:`Invalid` (422); an unreachable server is
:class:`~bitnexus.repo.database.DatabaseUnavailable` (503).

Example::

    from bitnexus.repo import queries

    user = await queries.get_user(db, 7)
    result = await queries.purchase(db, user_id=user.id, product_id=3,
                                    idempotency_key=None, request_hash="-")
"""

from __future__ import annotations

from bitnexus.repo.queries._common import (
    MAX_PAGE_SIZE,
    UNSET,
    Conflict,
    IdempotencyConflict,
    Invalid,
    NotFound,
    Unset,
)
from bitnexus.repo.queries.accounts import (
    ROLES,
    RefreshToken,
    User,
    consume_refresh_token,
    create_user,
    credit,
    get_user,
    get_user_by_email,
    list_users,
    lookup_refresh_token,
    revoke_refresh_token,
    revoke_user_refresh_tokens,
    set_balance,
    store_refresh_token,
    update_user,
)
from bitnexus.repo.queries.products import (
    Product,
    create_product,
    delete_product,
    get_product,
    list_products,
    update_product,
)
from bitnexus.repo.queries.transactions import (
    COMMISSION_RATE_BP,
    Commission,
    PurchaseResult,
    RefundResult,
    StatusChange,
    Transaction,
    get_transaction,
    get_transaction_history,
    list_all_transactions,
    list_commissions,
    list_transactions_for_affiliate,
    list_transactions_for_user,
    purchase,
    refund,
)

__all__ = [
    "COMMISSION_RATE_BP",
    "MAX_PAGE_SIZE",
    "ROLES",
    "UNSET",
    "Commission",
    "Conflict",
    "IdempotencyConflict",
    "Invalid",
    "NotFound",
    "Product",
    "PurchaseResult",
    "RefreshToken",
    "RefundResult",
    "StatusChange",
    "Transaction",
    "Unset",
    "User",
    "consume_refresh_token",
    "create_product",
    "create_user",
    "credit",
    "delete_product",
    "get_product",
    "get_transaction",
    "get_transaction_history",
    "get_user",
    "get_user_by_email",
    "list_all_transactions",
    "list_commissions",
    "list_products",
    "list_transactions_for_affiliate",
    "list_transactions_for_user",
    "list_users",
    "lookup_refresh_token",
    "purchase",
    "refund",
    "revoke_refresh_token",
    "revoke_user_refresh_tokens",
    "set_balance",
    "store_refresh_token",
    "update_product",
    "update_user",
]
