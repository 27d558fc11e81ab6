"""PostgreSQL access: the pool, migrations, and parameterised queries.

Example::

    async with Database(dsn=dsn) as db:
        await migrate(db)
        product = await queries.get_product(db, 1)
"""

from bitnexus.repo import queries
from bitnexus.repo.database import (
    Database,
    DatabaseStatistics,
    DatabaseUnavailable,
    EmbeddedPostgres,
    Executor,
    embedded_dsn,
    in_transaction,
    resolve_dsn,
    using,
)
from bitnexus.repo.migrations import migrate, pending
from bitnexus.repo.queries import (
    UNSET,
    Commission,
    Conflict,
    IdempotencyConflict,
    Invalid,
    NotFound,
    Product,
    PurchaseResult,
    RefreshToken,
    RefundResult,
    StatusChange,
    Transaction,
    User,
)

__all__ = [
    "UNSET",
    "Commission",
    "Conflict",
    "Database",
    "DatabaseStatistics",
    "DatabaseUnavailable",
    "EmbeddedPostgres",
    "Executor",
    "IdempotencyConflict",
    "Invalid",
    "NotFound",
    "Product",
    "PurchaseResult",
    "RefreshToken",
    "RefundResult",
    "StatusChange",
    "Transaction",
    "User",
    "embedded_dsn",
    "in_transaction",
    "migrate",
    "pending",
    "queries",
    "resolve_dsn",
    "using",
]
