"""Field validation for service operations, Ecto-changeset style.

A service checks every argument it was given, collects one list of messages
per field, and refuses with :class:`ValidationFailed` (422) carrying them all,
so a client fixes its form in one round trip. The HTTP layer renders
``exc.errors`` as ``{"errors": {"field": ["message", ...]}}``.

Example::

    errors = FieldErrors()
    email = errors.check("email", normalise_email, raw_email)
    errors.raise_if_any()          # ValidationFailed({"email": ["has invalid format"]})
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from bitnexus.auth.passwords import MAX_PASSWORD_LENGTH
from bitnexus.repo.queries import MAX_PAGE_SIZE, Conflict, Invalid

__all__ = [
    "MAX_AMOUNT_MINOR",
    "MIN_PASSWORD_LENGTH",
    "FieldConflict",
    "FieldErrors",
    "ValidationFailed",
    "check_currency",
    "check_display_name",
    "check_email",
    "check_id",
    "check_new_password",
    "check_page",
]

_T = TypeVar("_T")

#: Shortest password ``register`` and ``update_profile`` accept.
MIN_PASSWORD_LENGTH = 8
#: Largest amount (minor units) a price, credit or debit may have: far above any
#: real price, far below the bigint columns' limit.
MAX_AMOUNT_MINOR = 10**15
_MAX_ID = 2**63 - 1  # bigint
_MAX_EMAIL_LENGTH = 320
_MAX_DISPLAY_NAME_LENGTH = 100
# Deliberately loose (one @, a dot in the domain, no spaces): the only real
# check of an address is a mail that arrives.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class ValidationFailed(Invalid):
    """Arguments broke field rules; answer 422 with :attr:`errors`.

    Attributes:
        errors: ``{"field": ["message", ...]}``, every broken rule of every field.

    Example::

        raise ValidationFailed({"price_minor": ["must be greater than 0"]})
    """

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        self.errors = {field: list(messages) for field, messages in errors.items()}
        summary = "; ".join(f"{f} {', '.join(m)}" for f, m in self.errors.items())
        super().__init__(f"invalid: {summary}")


class FieldConflict(Conflict):
    """A field's value clashes with stored data (a taken email); answer 409.

    Attributes:
        errors: ``{"field": ["message"]}`` like :class:`ValidationFailed`.
    """

    def __init__(self, field: str, message: str) -> None:
        self.errors = {field: [message]}
        super().__init__(f"{field} {message}")


class FieldErrors:
    """Collects messages per field while checking several arguments."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        """Record one broken rule of ``field``."""
        self.errors.setdefault(field, []).append(message)

    def check(self, field: str, checker: Callable[..., _T], *args: Any) -> _T | None:
        """Run ``checker(*args)``; a ``ValueError`` becomes a message for ``field``.

        Returns:
            The checker's (normalised) value, or ``None`` when it refused.
        """
        try:
            return checker(*args)
        except ValueError as exc:
            self.add(field, str(exc))
            return None

    def raise_if_any(self) -> None:
        """Raise :class:`ValidationFailed` with everything recorded, if anything."""
        if self.errors:
            raise ValidationFailed(self.errors)


def _is_int(value: Any) -> bool:
    # bool is an int subclass; True is not user 1.
    return isinstance(value, int) and not isinstance(value, bool)


def check_id(value: Any) -> int:
    """A row id: a positive int (``ValueError`` otherwise)."""
    if not _is_int(value) or not 0 < value <= _MAX_ID:
        raise ValueError("must be a positive integer")
    return int(value)


def check_email(value: Any) -> str:
    """An email address, trimmed; ``ValueError`` when blank, too long or malformed."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError("can't be blank")
    email = value.strip()
    if len(email) > _MAX_EMAIL_LENGTH:
        raise ValueError(f"should be at most {_MAX_EMAIL_LENGTH} characters")
    if not _EMAIL.match(email):
        raise ValueError("has invalid format")
    return email


def check_new_password(value: Any) -> str:
    """A new password: ``MIN_PASSWORD_LENGTH`` to ``MAX_PASSWORD_LENGTH`` characters."""
    if not isinstance(value, str) or not value:
        raise ValueError("can't be blank")
    if len(value) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"should be at least {MIN_PASSWORD_LENGTH} characters")
    if len(value) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"should be at most {MAX_PASSWORD_LENGTH} characters")
    return value


def check_display_name(value: Any) -> str | None:
    """``None`` (no name) or 1 to 100 characters once trimmed."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("must be a string or null")
    name = value.strip()
    if not name:
        raise ValueError("can't be blank; send null to remove it")
    if len(name) > _MAX_DISPLAY_NAME_LENGTH:
        raise ValueError(f"should be at most {_MAX_DISPLAY_NAME_LENGTH} characters")
    return name


def check_currency(value: Any) -> str:
    """An ISO 4217 code: three capital letters."""
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise ValueError("must be three capital letters (ISO 4217)")
    return value


def check_page(errors: FieldErrors, limit: Any, offset: Any) -> tuple[int, int]:
    """Check ``limit`` (1..1000) and ``offset`` (>= 0) into ``errors``."""
    if not _is_int(limit) or not 1 <= limit <= MAX_PAGE_SIZE:
        errors.add("limit", f"must be an integer from 1 to {MAX_PAGE_SIZE}")
    if not _is_int(offset) or offset < 0:
        errors.add("offset", "must be an integer of at least 0")
    return limit, offset
