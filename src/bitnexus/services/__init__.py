"""The platform's business logic: supervised pools of service workers over the repo.

Services never import aiohttp nor the channels layer; whatever they announce
goes through an injected ``notify(topic, event, payload)`` callable.

Example::

    from bitnexus.services import ServicePool, TransactionsService

    transactions = ServicePool("transactions", lambda: TransactionsService(db, notify=notify))
    children.append(transactions.child_spec())
    result = await transactions.call("purchase", user_id=7, product_id=3)
"""

from __future__ import annotations

from bitnexus.services._base import DatabaseService, DatabaseSource
from bitnexus.services.accounts import (
    AccountsService,
    InvalidCredentials,
    InvalidRefreshToken,
    TokenPair,
)
from bitnexus.services.passwords import HasherWorker, PasswordHashers
from bitnexus.services.pool import Service, ServicePool, ServiceWorker
from bitnexus.services.products import PRODUCT_FIELDS, CatalogueCache, ProductsService
from bitnexus.services.transactions import (
    Notify,
    TransactionsService,
    commission_payload,
    money,
    request_hash,
    status_payload,
    transaction_payload,
)
from bitnexus.services.validation import (
    MIN_PASSWORD_LENGTH,
    FieldConflict,
    FieldErrors,
    ValidationFailed,
)

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "PRODUCT_FIELDS",
    "AccountsService",
    "CatalogueCache",
    "DatabaseService",
    "DatabaseSource",
    "FieldConflict",
    "FieldErrors",
    "HasherWorker",
    "InvalidCredentials",
    "InvalidRefreshToken",
    "Notify",
    "PasswordHashers",
    "ProductsService",
    "Service",
    "ServicePool",
    "ServiceWorker",
    "TokenPair",
    "TransactionsService",
    "ValidationFailed",
    "commission_payload",
    "money",
    "request_hash",
    "status_payload",
    "transaction_payload",
]
