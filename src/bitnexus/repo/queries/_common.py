"""Errors and small helpers shared by the query modules (internal).

Constraint violations are mapped to :class:`~bitnexus.exceptions.Refused`
subclasses by constraint name (the names are fixed in the migrations), so a
caller never sees an asyncpg exception for a refused write.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import Iterator, Mapping
from typing import Any

import asyncpg

from bitnexus.exceptions import Refused

__all__ = [
    "MAX_PAGE_SIZE",
    "UNSET",
    "Conflict",
    "IdempotencyConflict",
    "Invalid",
    "NotFound",
    "Unset",
    "assignments",
    "check_page",
    "refusing_violations",
]

#: The largest ``limit`` a list query accepts.
MAX_PAGE_SIZE = 1000


class NotFound(Refused):
    """The row asked for does not exist (or, for a purchase, is not for sale). Answer 404."""

    status = 404


class Conflict(Refused):
    """The write clashes with the current state: a duplicate email, a refund
    of a transaction that is not completed. Answer 409."""

    status = 409


class IdempotencyConflict(Conflict):
    """An idempotency key was reused with a different request body. Answer 409;
    the client must use a new key for a new request."""


class Invalid(Refused):
    """A value breaks a rule of the schema (a role outside the three, a
    negative price, a referrer that does not exist). Answer 422."""

    status = 422


class Unset(enum.Enum):
    """Type of :data:`UNSET`."""

    UNSET = "UNSET"


#: "Leave this column as it is" in update functions (``None`` means SQL NULL).
UNSET = Unset.UNSET

_MESSAGES: Mapping[str, tuple[type[Refused], str]] = {
    "users_email_key": (Conflict, "email is already registered"),
    "users_email_check": (Invalid, "email must be 1 to 320 characters"),
    "users_role_check": (Invalid, "role must be one of 'admin', 'user', 'affiliate'"),
    "users_referred_by_fkey": (Invalid, "the referring user does not exist"),
    "users_not_self_referred": (Invalid, "a user cannot refer themselves"),
    "users_balance_check": (Invalid, "balance cannot go below zero"),
    "users_currency_check": (Invalid, "currency must be three capital letters (ISO 4217)"),
    "refresh_tokens_pkey": (Conflict, "refresh token is already stored"),
    "refresh_tokens_user_id_fkey": (NotFound, "user does not exist"),
    "products_name_check": (Invalid, "product name must be 1 to 200 characters"),
    "products_price_check": (Invalid, "price must be positive"),
    "products_currency_check": (Invalid, "currency must be three capital letters (ISO 4217)"),
    "transactions_idempotency_key_check": (
        Invalid,
        "idempotency key must be 1 to 255 characters",
    ),
}


@contextlib.contextmanager
def refusing_violations(**overrides: str) -> Iterator[None]:
    """Turn constraint violations into :class:`Conflict` / :class:`Invalid` / :class:`NotFound`.

    Args:
        **overrides: message per constraint name, replacing the default one
            (for example, to name the email that is taken).
    """
    try:
        yield
    except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError) as exc:
        constraint = getattr(exc, "constraint_name", None) or ""
        kind, message = _MESSAGES.get(constraint, (None, ""))
        if kind is None:
            kind = Conflict if isinstance(exc, asyncpg.UniqueViolationError) else Invalid
            message = getattr(exc, "detail", None) or str(exc)
        raise kind(overrides.get(constraint, message)) from exc


def check_page(limit: int, offset: int) -> None:
    """Refuse a page outside ``1 <= limit <= MAX_PAGE_SIZE``, ``offset >= 0``."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise Invalid(f"limit must be between 1 and {MAX_PAGE_SIZE}; got {limit}")
    if offset < 0:
        raise Invalid(f"offset must not be negative; got {offset}")


def assignments(values: Mapping[str, Any], *, first: int) -> tuple[str, list[Any]]:
    """Build ``col = $n, ...`` for the values that are not :data:`UNSET`.

    Column names come from our own keyword arguments, never from input;
    values always travel as parameters.

    Returns:
        The SQL fragment (empty when nothing is set) and its arguments,
        numbered from ``$first``.
    """
    chosen = [(column, value) for column, value in values.items() if value is not UNSET]
    sql = ", ".join(f"{column} = ${n}" for n, (column, _) in enumerate(chosen, start=first))
    return sql, [value for _, value in chosen]
