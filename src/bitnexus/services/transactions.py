"""Transactions: purchases, refunds, commissions, and who may see them.

A purchase is one PostgreSQL transaction (``pending`` → ``completed`` or
``failed``): the buyer's row is locked, so a balance is never spent twice nor
goes negative. With an idempotency key a retried purchase returns the first
outcome and charges nothing (``replayed=True``).

After the commit, every status change is announced through the injected
``notify(topic, event, payload)`` (the platform passes ``hub.broadcast``):

- ``transaction:<id>``, event ``"status"``: :func:`status_payload`;
- ``notification:<buyer id>``, event ``"transaction"``: :func:`transaction_payload`;
- ``notification:<affiliate id>``, event ``"commission"``: :func:`commission_payload`,
  when the buyer was referred by an affiliate (earned, or reversed by a refund).

A replayed purchase announces nothing.

Example::

    pool = ServicePool("transactions", lambda: TransactionsService(db, notify=hub.broadcast))
    result = await pool.call("purchase", user_id=7, product_id=3, idempotency_key="k-1")
    again = await pool.call("purchase", user_id=7, product_id=3, idempotency_key="k-1")
    assert again.replayed and again.transaction.id == result.transaction.id
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from collections.abc import Callable
from typing import Any

from bitnexus.auth.roles import Principal, Role, can_view_transaction
from bitnexus.repo import (
    Commission,
    PurchaseResult,
    RefundResult,
    StatusChange,
    Transaction,
    queries,
    using,
)
from bitnexus.repo.queries import COMMISSION_RATE_BP
from bitnexus.services._base import DatabaseService, DatabaseSource
from bitnexus.services.validation import FieldErrors, check_id, check_page

__all__ = [
    "Notify",
    "TransactionsService",
    "commission_payload",
    "money",
    "request_hash",
    "status_payload",
    "transaction_payload",
]

_log = logging.getLogger("bitnexus.services.transactions")

Notify = Callable[[str, str, dict[str, Any]], Any]
"""``notify(topic, event, payload)``: announce an event (``hub.broadcast``)."""

# Printable ASCII: what fits in an HTTP header without surprises.
_IDEMPOTENCY_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")
_TX_COLUMNS = ", ".join(f"t.{f.name}" for f in dataclasses.fields(Transaction))


def money(amount_minor: int, currency: str) -> dict[str, Any]:
    """Money as the API shows it: ``{"amount_minor": 450, "currency": "EUR"}``."""
    return {"amount_minor": amount_minor, "currency": currency}


def transaction_payload(tx: Transaction) -> dict[str, Any]:
    """A transaction as JSON-ready data (never the idempotency key or request hash).

    Example::

        transaction_payload(tx)
        # {"id": 9, "user_id": 7, "product_id": 3, "amount": {...}, "status": "completed",
        #  "failure_reason": None, "created_at": "2025-...+00:00", "updated_at": "..."}
    """
    return {
        "id": tx.id,
        "user_id": tx.user_id,
        "product_id": tx.product_id,
        "amount": money(tx.amount_minor, tx.currency),
        "status": tx.status,
        "failure_reason": tx.failure_reason,
        "created_at": tx.created_at.isoformat(),
        "updated_at": tx.updated_at.isoformat(),
    }


def status_payload(tx_id: int, change: StatusChange, previous: str | None) -> dict[str, Any]:
    """One status change: ``{"id", "status", "previous", "at", "reason"}``."""
    return {
        "id": tx_id,
        "status": change.status,
        "previous": previous,
        "at": change.at.isoformat(),
        "reason": change.reason,
    }


def commission_payload(commission: Commission) -> dict[str, Any]:
    """A commission as JSON-ready data; ``reversed_at`` is set once refunded."""
    return {
        "id": commission.id,
        "affiliate_id": commission.affiliate_id,
        "transaction_id": commission.transaction_id,
        "amount": money(commission.amount_minor, commission.currency),
        "created_at": commission.created_at.isoformat(),
        "reversed_at": (
            commission.reversed_at.isoformat() if commission.reversed_at is not None else None
        ),
    }


def request_hash(user_id: int, product_id: int) -> str:
    """The digest an idempotent purchase is compared on: what is bought, by whom."""
    return hashlib.sha256(f"purchase:{user_id}:{product_id}".encode()).hexdigest()


class TransactionsService(DatabaseService):
    """Purchases and refunds, with their announcements.

    Args:
        db: the database, or a function returning the running one.
        notify: ``notify(topic, event, payload)``, called after each commit;
            ``None`` announces nothing.
        commission_rate_bp: the referring affiliate's share, in basis points.
    """

    operations = (
        "purchase",
        "get_transaction",
        "list_transactions",
        "refund",
        "list_commissions",
        "can_view",
    )

    def __init__(
        self,
        db: DatabaseSource,
        *,
        notify: Notify | None = None,
        commission_rate_bp: int = COMMISSION_RATE_BP,
    ) -> None:
        super().__init__(db)
        self._notify = notify
        self.commission_rate_bp = commission_rate_bp

    async def purchase(
        self, user_id: int, product_id: int, idempotency_key: str | None = None
    ) -> PurchaseResult:
        """Buy one product for ``user_id`` from their balance.

        Running out of money is an outcome, not an error: the transaction is
        ``failed`` with ``failure_reason="insufficient_funds"`` (or
        ``"currency_mismatch"``).

        Raises:
            ValidationFailed: bad ids or idempotency key (1..255 printable
                ASCII characters) (422).
            NotFound: no such user, or the product is missing or retired (404).
            IdempotencyConflict: the key was used for another product (409).
        """
        errors = FieldErrors()
        errors.check("user_id", check_id, user_id)
        errors.check("product_id", check_id, product_id)
        if idempotency_key is not None and (
            not isinstance(idempotency_key, str) or not _IDEMPOTENCY_KEY.match(idempotency_key)
        ):
            errors.add("idempotency_key", "must be 1 to 255 printable ASCII characters")
        errors.raise_if_any()
        result = await queries.purchase(
            self.db,
            user_id=user_id,
            product_id=product_id,
            idempotency_key=idempotency_key,
            request_hash=request_hash(user_id, product_id),
            commission_rate_bp=self.commission_rate_bp,
        )
        if not result.replayed:
            self._announce(result.transaction, result.history, result.commission, new_steps=None)
        return result

    async def get_transaction(
        self, transaction_id: int
    ) -> tuple[Transaction, tuple[StatusChange, ...]]:
        """A transaction and every status it went through, oldest first.

        Raises:
            NotFound: there is none (404).
        """
        transaction_id = _valid("transaction_id", transaction_id)
        # One snapshot: a refund committing in between cannot make the
        # history disagree with the status.
        async with self.db.transaction(isolation="repeatable_read") as conn:
            tx = await queries.get_transaction(conn, transaction_id)
            history = await queries.get_transaction_history(conn, transaction_id)
        return tx, history

    async def list_transactions(
        self, principal_user_id: int, role: str, limit: int = 50, offset: int = 0
    ) -> list[Transaction]:
        """The transactions a principal may see, newest first.

        A user sees their own; an affiliate their own and those of the users
        they referred; an admin every transaction.

        Raises:
            ValidationFailed: a bad page (422).
            UnknownRole: ``role`` is not a role (422).
        """
        errors = FieldErrors()
        errors.check("principal_user_id", check_id, principal_user_id)
        check_page(errors, limit, offset)
        errors.raise_if_any()
        parsed = Role.parse(role)
        db = self.db
        if parsed is Role.ADMIN:
            return await queries.list_all_transactions(db, limit=limit, offset=offset)
        if parsed is Role.USER:
            return await queries.list_transactions_for_user(
                db, principal_user_id, limit=limit, offset=offset
            )
        async with using(db) as conn:
            rows = await conn.fetch(
                f"SELECT {_TX_COLUMNS} FROM transactions t WHERE t.user_id IN"
                " (SELECT id FROM users WHERE id = $1 OR referred_by = $1)"
                " ORDER BY t.id DESC LIMIT $2 OFFSET $3",
                principal_user_id, limit, offset,
            )  # fmt: skip
        return [Transaction(**dict(row)) for row in rows]

    async def refund(self, transaction_id: int) -> RefundResult:
        """Refund a completed purchase: credit the buyer, reverse the commission.

        Raises:
            NotFound: no such transaction (404).
            Conflict: it is not ``completed`` (failed or already refunded) (409).
        """
        result = await queries.refund(self.db, _valid("transaction_id", transaction_id))
        self._announce(result.transaction, result.history, result.commission, new_steps=1)
        return result

    async def list_commissions(
        self, affiliate_id: int, limit: int = 50, offset: int = 0
    ) -> list[Commission]:
        """An affiliate's commissions, newest first, reversed ones included.

        Raises:
            ValidationFailed: a bad id or page (422).
        """
        errors = FieldErrors()
        errors.check("affiliate_id", check_id, affiliate_id)
        check_page(errors, limit, offset)
        errors.raise_if_any()
        return await queries.list_commissions(self.db, affiliate_id, limit=limit, offset=offset)

    async def can_view(self, user_id: int, role: str, transaction_id: int) -> bool:
        """Whether this principal may see the transaction: its owner, the
        affiliate who referred the owner, or an admin.

        A transaction that does not exist (or an id that is not one) gives
        ``False`` for everyone, so the answer never reveals what exists.

        Raises:
            UnknownRole: ``role`` is not a role (422).
        """
        principal = Principal(user_id, Role.parse(role))
        if not isinstance(transaction_id, int) or isinstance(transaction_id, bool):
            return False
        if not 0 < transaction_id < 2**63:
            return False
        async with using(self.db) as conn:
            row = await conn.fetchrow(
                "SELECT t.user_id, u.referred_by FROM transactions t"
                " JOIN users u ON u.id = t.user_id WHERE t.id = $1",
                transaction_id,
            )
        if row is None:
            return False
        return can_view_transaction(
            principal, owner_id=row["user_id"], referrer_id=row["referred_by"]
        )

    def _announce(
        self,
        tx: Transaction,
        history: tuple[StatusChange, ...],
        commission: Commission | None,
        *,
        new_steps: int | None,
    ) -> None:
        """Tell the subscribers; ``new_steps`` is how many trailing steps are new."""
        first_new = 0 if new_steps is None else len(history) - new_steps
        topic = f"transaction:{tx.id}"
        for index in range(first_new, len(history)):
            previous = history[index - 1].status if index > 0 else None
            self._send(topic, "status", status_payload(tx.id, history[index], previous))
        self._send(f"notification:{tx.user_id}", "transaction", transaction_payload(tx))
        if commission is not None:
            self._send(
                f"notification:{commission.affiliate_id}",
                "commission",
                commission_payload(commission),
            )

    def _send(self, topic: str, event: str, payload: dict[str, Any]) -> None:
        if self._notify is None:
            return
        try:
            self._notify(topic, event, payload)
        except Exception:
            # Committed is committed: a failed announcement must not turn a
            # successful purchase into an error (the client would retry it).
            _log.exception("could not announce %s on %s", event, topic)


def _valid(field_name: str, value: Any) -> int:
    errors = FieldErrors()
    checked = errors.check(field_name, check_id, value)
    errors.raise_if_any()
    assert checked is not None
    return checked
