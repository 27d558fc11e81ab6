"""Purchases, refunds and affiliate commissions.

A purchase is one PostgreSQL transaction: it locks the buyer's row, so
purchases by the same user run one after another and the balance can never be
spent twice; purchases by different users run in parallel. Running out of
money is not an error: the purchase is recorded as ``failed`` with
``failure_reason="insufficient_funds"`` and returned like any other outcome.

Idempotency: a purchase with an ``idempotency_key`` happens at most once per
user and key. Repeating it with the same ``request_hash`` returns the first
outcome with ``replayed=True``; repeating it with another hash raises
:class:`~bitnexus.repo.queries.IdempotencyConflict`.

Example::

    result = await purchase(db, user_id=7, product_id=3,
                            idempotency_key="c0ffee", request_hash=sha256_of_body)
    if result.transaction.status == "failed":
        ...  # result.transaction.failure_reason == "insufficient_funds"
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from bitnexus.exceptions import InternalError, Misuse
from bitnexus.repo.database import Executor, in_transaction, using
from bitnexus.repo.queries._common import Conflict, IdempotencyConflict, NotFound, check_page

__all__ = [
    "COMMISSION_RATE_BP",
    "Commission",
    "PurchaseResult",
    "RefundResult",
    "StatusChange",
    "Transaction",
    "get_transaction",
    "get_transaction_history",
    "list_all_transactions",
    "list_commissions",
    "list_transactions_for_affiliate",
    "list_transactions_for_user",
    "purchase",
    "refund",
]

#: Affiliate commission in basis points of the price: 1000 = 10 %.
COMMISSION_RATE_BP = 1000

_COLUMNS = (
    "id, user_id, product_id, amount_minor, currency, status, failure_reason,"
    " idempotency_key, request_hash, created_at, updated_at"
)
_T_COLUMNS = ", ".join(f"t.{column.strip()}" for column in _COLUMNS.split(","))
_COMMISSION_COLUMNS = (
    "id, affiliate_id, transaction_id, amount_minor, currency, created_at, reversed_at"
)


@dataclass(frozen=True, slots=True)
class Transaction:
    """A row of ``transactions``.

    Attributes:
        id: the transaction's id.
        user_id: the buyer.
        product_id: what was bought.
        amount_minor: the price charged (or that would have been), minor units.
        currency: ISO 4217 code of the amount.
        status: ``"completed"``, ``"failed"`` or ``"refunded"`` (``"pending"``
            is never visible outside the purchase).
        failure_reason: ``"insufficient_funds"`` or ``"currency_mismatch"``
            when failed, else ``None``.
        idempotency_key: the client's key, if it sent one.
        request_hash: the caller's digest of the request that created it.
        created_at: when it was created.
        updated_at: when its status last changed.
    """

    id: int
    user_id: int
    product_id: int
    amount_minor: int
    currency: str
    status: str
    failure_reason: str | None
    idempotency_key: str | None
    request_hash: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Commission:
    """A row of ``commissions``: an affiliate's share of a referred user's purchase.

    Attributes:
        id: the commission's id.
        affiliate_id: who earns it.
        transaction_id: the purchase it comes from (one commission at most).
        amount_minor: the share, rounded down, minor units.
        currency: ISO 4217 code of the amount.
        created_at: when it was earned.
        reversed_at: when the purchase was refunded; ``None`` while it stands.
    """

    id: int
    affiliate_id: int
    transaction_id: int
    amount_minor: int
    currency: str
    created_at: datetime
    reversed_at: datetime | None


@dataclass(frozen=True, slots=True)
class StatusChange:
    """One step of a transaction's history.

    Attributes:
        status: the status entered.
        reason: why, for ``"failed"``; else ``None``.
        at: when.
    """

    status: str
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class PurchaseResult:
    """What :func:`purchase` did.

    Attributes:
        transaction: the transaction as it now stands.
        history: every status it went through, oldest first
            (``pending`` then ``completed`` or ``failed``, ...).
        commission: the affiliate's commission, if one was earned.
        replayed: ``True`` when this is the stored outcome of an earlier
            request with the same idempotency key; nothing was charged now.
    """

    transaction: Transaction
    history: tuple[StatusChange, ...]
    commission: Commission | None
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class RefundResult:
    """What :func:`refund` did.

    Attributes:
        transaction: the transaction, now ``"refunded"``.
        history: every status it went through, oldest first.
        commission: the commission, now reversed, if there was one.
    """

    transaction: Transaction
    history: tuple[StatusChange, ...]
    commission: Commission | None


def _transaction(row: Any) -> Transaction:
    return Transaction(**dict(row))


def _commission(row: Any) -> Commission | None:
    return None if row is None else Commission(**dict(row))


class _KeyTaken(Exception):
    """The idempotency key's unique index refused our insert: retry as a replay."""


async def purchase(
    db: Executor,
    *,
    user_id: int,
    product_id: int,
    idempotency_key: str | None,
    request_hash: str,
    commission_rate_bp: int = COMMISSION_RATE_BP,
) -> PurchaseResult:
    """Buy one product for a user, charging their balance, all in one transaction.

    Args:
        db: the database, or a connection (then this runs in a savepoint).
        user_id: the buyer.
        product_id: an active product.
        idempotency_key: the client's key; ``None`` to never deduplicate.
        request_hash: a digest of the request body, compared on replays.
        commission_rate_bp: the referring affiliate's share in basis points.

    Returns:
        The outcome: ``completed`` (balance debited, commission recorded when
        the buyer was referred by an affiliate) or ``failed`` (nothing
        charged). Both are committed.

    Raises:
        NotFound: the user does not exist, or the product does not exist or
            is not active.
        IdempotencyConflict: the key was used before for a different request.
        Misuse: ``commission_rate_bp`` is outside 0..10000.

    Example::

        first = await purchase(db, user_id=7, product_id=3, idempotency_key="k1", request_hash=h)
        again = await purchase(db, user_id=7, product_id=3, idempotency_key="k1", request_hash=h)
        assert again.replayed and again.transaction.id == first.transaction.id
    """
    if not 0 <= commission_rate_bp <= 10_000:
        raise Misuse(f"commission_rate_bp must be within 0..10000; got {commission_rate_bp}")
    try:
        async with in_transaction(db) as conn:
            return await _purchase(conn, user_id, product_id, idempotency_key, request_hash,
                                   commission_rate_bp)  # fmt: skip
    except _KeyTaken:
        pass
    # Another request with this key committed first (the buyer lock normally
    # prevents that; the unique index has the last word): answer as a replay.
    try:
        async with in_transaction(db) as conn:
            return await _purchase(conn, user_id, product_id, idempotency_key, request_hash,
                                   commission_rate_bp)  # fmt: skip
    except _KeyTaken as exc:
        raise InternalError(
            f"idempotency key of user {user_id} is taken but its transaction is not visible"
        ) from exc


async def _purchase(
    conn: Any, user_id: int, product_id: int, key: str | None, request_hash: str, rate_bp: int
) -> PurchaseResult:
    # FOR NO KEY UPDATE, not FOR UPDATE: it serialises purchases by this
    # buyer without blocking the key-share locks that foreign keys to this
    # row take (a referred user's commission, say).
    buyer = await conn.fetchrow(
        "SELECT balance_minor, currency, referred_by FROM users WHERE id = $1 FOR NO KEY UPDATE",
        user_id,
    )
    if buyer is None:
        raise NotFound(f"user {user_id} does not exist")
    if key is not None:
        # Checked after taking the lock: a concurrent request with the same
        # key has committed by now, and this statement sees it.
        earlier = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM transactions WHERE user_id = $1 AND idempotency_key = $2",
            user_id, key,
        )  # fmt: skip
        if earlier is not None:
            if earlier["request_hash"] != request_hash or earlier["product_id"] != product_id:
                raise IdempotencyConflict(
                    "idempotency key was already used for a different request"
                )
            return await _outcome(conn, _transaction(earlier), replayed=True)
    product = await conn.fetchrow(
        "SELECT price_minor, currency::text AS currency FROM products WHERE id = $1 AND active",
        product_id,
    )
    if product is None:
        raise NotFound(f"product {product_id} does not exist or is not for sale")
    price = product["price_minor"]
    try:
        tx_id = await conn.fetchval(
            "WITH t AS (INSERT INTO transactions (user_id, product_id, amount_minor, currency,"
            " idempotency_key, request_hash) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id),"
            " e AS (INSERT INTO transaction_events (transaction_id, status)"
            " SELECT id, 'pending' FROM t) SELECT id FROM t",
            user_id, product_id, price, product["currency"], key, request_hash,
        )  # fmt: skip
    except asyncpg.UniqueViolationError as exc:
        raise _KeyTaken from exc
    if product["currency"] != buyer["currency"]:
        return await _finish(conn, tx_id, "failed", "currency_mismatch")
    if buyer["balance_minor"] < price:
        return await _finish(conn, tx_id, "failed", "insufficient_funds")
    await conn.execute(
        "UPDATE users SET balance_minor = balance_minor - $2 WHERE id = $1", user_id, price
    )
    amount = price * rate_bp // 10_000
    if buyer["referred_by"] is not None and amount > 0:
        # Only an affiliate earns; a referrer with another role gets nothing.
        await conn.execute(
            "INSERT INTO commissions (affiliate_id, transaction_id, amount_minor, currency)"
            " SELECT id, $2, $3, $4 FROM users WHERE id = $1 AND role = 'affiliate'",
            buyer["referred_by"], tx_id, amount, product["currency"],
        )  # fmt: skip
    return await _finish(conn, tx_id, "completed", None)


async def _finish(conn: Any, tx_id: int, status: str, reason: str | None) -> PurchaseResult:
    row = await conn.fetchrow(
        "WITH t AS (UPDATE transactions SET status = $2, failure_reason = $3 WHERE id = $1"
        f" RETURNING {_COLUMNS}), e AS (INSERT INTO transaction_events"
        " (transaction_id, status, reason) SELECT id, status, failure_reason FROM t)"
        " SELECT * FROM t",
        tx_id, status, reason,
    )  # fmt: skip
    return await _outcome(conn, _transaction(row), replayed=False)


async def _outcome(conn: Any, tx: Transaction, *, replayed: bool) -> PurchaseResult:
    commission = await conn.fetchrow(
        f"SELECT {_COMMISSION_COLUMNS} FROM commissions WHERE transaction_id = $1", tx.id
    )
    return PurchaseResult(tx, await _history(conn, tx.id), _commission(commission), replayed)


async def _history(conn: Any, tx_id: int) -> tuple[StatusChange, ...]:
    rows = await conn.fetch(
        "SELECT status, reason, created_at AS at FROM transaction_events"
        " WHERE transaction_id = $1 ORDER BY id",
        tx_id,
    )
    return tuple(StatusChange(**dict(row)) for row in rows)


async def refund(db: Executor, transaction_id: int) -> RefundResult:
    """Refund a completed purchase: credit the buyer and reverse the commission.

    Raises:
        NotFound: there is no such transaction.
        Conflict: the transaction is not ``completed`` (failed, or already refunded).

    Example::

        result = await refund(db, 42)
        assert result.transaction.status == "refunded"
    """
    async with in_transaction(db) as conn:
        # Lock order (transaction, then buyer) never meets a purchase's, which
        # locks the buyer and only inserts transactions.
        tx = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM transactions WHERE id = $1 FOR UPDATE", transaction_id
        )
        if tx is None:
            raise NotFound(f"transaction {transaction_id} does not exist")
        if tx["status"] != "completed":
            raise Conflict(
                f"transaction {transaction_id} is {tx['status']}; only completed "
                "transactions can be refunded"
            )
        await conn.execute(
            "UPDATE users SET balance_minor = balance_minor + $2 WHERE id = $1",
            tx["user_id"], tx["amount_minor"],
        )  # fmt: skip
        result = await _finish(conn, transaction_id, "refunded", None)
        commission = await conn.fetchrow(
            "UPDATE commissions SET reversed_at = now()"
            f" WHERE transaction_id = $1 AND reversed_at IS NULL RETURNING {_COMMISSION_COLUMNS}",
            transaction_id,
        )
    return RefundResult(result.transaction, result.history, _commission(commission))


async def get_transaction(db: Executor, transaction_id: int) -> Transaction:
    """Return the transaction with this id.

    Raises:
        NotFound: there is no such transaction.
    """
    async with using(db) as conn:
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM transactions WHERE id = $1",
                                  transaction_id)  # fmt: skip
    if row is None:
        raise NotFound(f"transaction {transaction_id} does not exist")
    return _transaction(row)


async def get_transaction_history(db: Executor, transaction_id: int) -> tuple[StatusChange, ...]:
    """Every status the transaction went through, oldest first.

    Raises:
        NotFound: there is no such transaction.
    """
    async with using(db) as conn:
        history = await _history(conn, transaction_id)
    if not history:
        raise NotFound(f"transaction {transaction_id} does not exist")
    return history


async def list_transactions_for_user(
    db: Executor, user_id: int, *, limit: int = 50, offset: int = 0
) -> list[Transaction]:
    """A user's transactions, newest first.

    Raises:
        Invalid: ``limit`` outside 1..1000 or a negative ``offset``.
    """
    return await _list(db, "WHERE t.user_id = $3", limit, offset, user_id)


async def list_transactions_for_affiliate(
    db: Executor, affiliate_id: int, *, limit: int = 50, offset: int = 0
) -> list[Transaction]:
    """Transactions of the users this affiliate referred, newest first.

    Raises:
        Invalid: ``limit`` outside 1..1000 or a negative ``offset``.
    """
    return await _list(
        db, "JOIN users u ON u.id = t.user_id WHERE u.referred_by = $3", limit, offset,
        affiliate_id,
    )  # fmt: skip


async def list_all_transactions(
    db: Executor, *, limit: int = 50, offset: int = 0, status: str | None = None
) -> list[Transaction]:
    """Every transaction, newest first, optionally of one status (admin view).

    Raises:
        Invalid: ``limit`` outside 1..1000 or a negative ``offset``.
    """
    return await _list(db, "WHERE ($3::text IS NULL OR t.status = $3)", limit, offset, status)


async def _list(db: Executor, where: str, limit: int, offset: int, arg: Any) -> list[Transaction]:
    check_page(limit, offset)
    async with using(db) as conn:
        rows = await conn.fetch(
            f"SELECT {_T_COLUMNS} FROM transactions t {where}"
            " ORDER BY t.id DESC LIMIT $1 OFFSET $2",
            limit, offset, arg,
        )  # fmt: skip
    return [_transaction(row) for row in rows]


async def list_commissions(
    db: Executor, affiliate_id: int, *, limit: int = 50, offset: int = 0
) -> list[Commission]:
    """An affiliate's commissions, newest first, reversed ones included.

    Raises:
        Invalid: ``limit`` outside 1..1000 or a negative ``offset``.
    """
    check_page(limit, offset)
    async with using(db) as conn:
        rows = await conn.fetch(
            f"SELECT {_COMMISSION_COLUMNS} FROM commissions WHERE affiliate_id = $1"
            " ORDER BY id DESC LIMIT $2 OFFSET $3",
            affiliate_id, limit, offset,
        )  # fmt: skip
    return [Commission(**dict(row)) for row in rows]
