"""Users, balances and refresh tokens.

Every function takes an :data:`~bitnexus.repo.database.Executor` first (the
:class:`~bitnexus.repo.database.Database` or a connection you hold) and
returns frozen dataclasses, never asyncpg records.

Example::

    user = await create_user(db, email="ada@example.com", password_hash=h, role="affiliate")
    user = await credit(db, user.id, 5_00)
    assert (await get_user_by_email(db, "ADA@example.com")).id == user.id
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bitnexus.repo.database import Executor, using
from bitnexus.repo.queries._common import (
    UNSET,
    Invalid,
    NotFound,
    Unset,
    assignments,
    check_page,
    refusing_violations,
)

__all__ = [
    "ROLES",
    "RefreshToken",
    "User",
    "consume_refresh_token",
    "create_user",
    "credit",
    "get_user",
    "get_user_by_email",
    "list_users",
    "lookup_refresh_token",
    "revoke_refresh_token",
    "revoke_user_refresh_tokens",
    "set_balance",
    "store_refresh_token",
    "update_user",
]

#: The roles the schema accepts.
ROLES = ("admin", "user", "affiliate")

_USER_COLUMNS = (
    "id, email, password_hash, role, referred_by, balance_minor, currency, "
    "display_name, created_at, updated_at"
)
_TOKEN_COLUMNS = "token_hash, user_id, created_at, expires_at, revoked_at"


@dataclass(frozen=True, slots=True)
class User:
    """A row of ``users``. ``password_hash`` is left out of ``repr``.

    Attributes:
        id: the user's id.
        email: as registered; unique regardless of case.
        password_hash: the stored hash (argon2), never the password.
        role: ``"admin"``, ``"user"`` or ``"affiliate"``.
        referred_by: id of the user who referred this one, if any.
        balance_minor: spendable balance in minor units (cents); never negative.
        currency: ISO 4217 code of the balance.
        display_name: optional public name.
        created_at: when the row was inserted.
        updated_at: when the row last changed.
    """

    id: int
    email: str
    password_hash: str = field(repr=False)
    role: str
    referred_by: int | None
    balance_minor: int
    currency: str
    display_name: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RefreshToken:
    """A row of ``refresh_tokens`` (only the token's digest is stored).

    Attributes:
        token_hash: SHA-256 hex digest of the opaque token.
        user_id: the owner.
        created_at: when it was issued.
        expires_at: when it stops being valid.
        revoked_at: when it was revoked or used up; ``None`` while usable.
    """

    token_hash: str
    user_id: int
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


def _user(row: Any) -> User:
    return User(**dict(row))


def _token(row: Any) -> RefreshToken:
    return RefreshToken(**dict(row))


async def create_user(
    db: Executor,
    *,
    email: str,
    password_hash: str,
    role: str = "user",
    referred_by: int | None = None,
    display_name: str | None = None,
    currency: str = "USD",
    balance_minor: int = 0,
) -> User:
    """Insert a user.

    Raises:
        Conflict: the email is taken (whatever its case).
        Invalid: a role outside :data:`ROLES`, a referrer that does not exist,
            a bad currency or a negative balance.

    Example::

        user = await create_user(db, email="bo@example.com", password_hash=h, referred_by=7)
    """
    with refusing_violations(users_email_key=f"email {email!r} is already registered"):
        async with using(db) as conn:
            row = await conn.fetchrow(
                f"INSERT INTO users (email, password_hash, role, referred_by, display_name,"
                f" currency, balance_minor) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                f" RETURNING {_USER_COLUMNS}",
                email, password_hash, role, referred_by, display_name, currency, balance_minor,
            )  # fmt: skip
    return _user(row)


async def get_user(db: Executor, user_id: int) -> User:
    """Return the user with this id.

    Raises:
        NotFound: there is no such user.
    """
    async with using(db) as conn:
        row = await conn.fetchrow(f"SELECT {_USER_COLUMNS} FROM users WHERE id = $1", user_id)
    if row is None:
        raise NotFound(f"user {user_id} does not exist")
    return _user(row)


async def get_user_by_email(db: Executor, email: str) -> User:
    """Return the user registered with this email, compared without case.

    Raises:
        NotFound: nobody registered this email.
    """
    async with using(db) as conn:
        row = await conn.fetchrow(
            f"SELECT {_USER_COLUMNS} FROM users WHERE lower(email) = lower($1)", email
        )
    if row is None:
        raise NotFound("no user with this email")
    return _user(row)


async def list_users(
    db: Executor, *, limit: int = 50, offset: int = 0, role: str | None = None
) -> list[User]:
    """Users in id order, one page at a time, optionally of one role.

    Raises:
        Invalid: ``limit`` outside 1..1000 or a negative ``offset``.
    """
    check_page(limit, offset)
    async with using(db) as conn:
        rows = await conn.fetch(
            f"SELECT {_USER_COLUMNS} FROM users WHERE ($1::text IS NULL OR role = $1)"
            " ORDER BY id LIMIT $2 OFFSET $3",
            role, limit, offset,
        )  # fmt: skip
    return [_user(row) for row in rows]


async def update_user(
    db: Executor,
    user_id: int,
    *,
    email: str | Unset = UNSET,
    display_name: str | Unset | None = UNSET,
    role: str | Unset = UNSET,
    password_hash: str | Unset = UNSET,
    referred_by: int | Unset | None = UNSET,
) -> User:
    """Change some of a user's fields; the ones left :data:`UNSET` keep their value.

    The balance changes only through :func:`credit`, :func:`set_balance` and
    purchases; the currency never changes (past transactions are in it).

    Raises:
        NotFound: there is no such user.
        Conflict: the new email is taken.
        Invalid: a role outside :data:`ROLES`, or a referrer that does not exist.

    Example::

        await update_user(db, 7, role="affiliate", display_name=None)
    """
    sets, args = assignments(
        {
            "email": email,
            "display_name": display_name,
            "role": role,
            "password_hash": password_hash,
            "referred_by": referred_by,
        },
        first=2,
    )
    if not sets:
        return await get_user(db, user_id)
    with refusing_violations(users_email_key=f"email {email!r} is already registered"):
        async with using(db) as conn:
            row = await conn.fetchrow(
                f"UPDATE users SET {sets} WHERE id = $1 RETURNING {_USER_COLUMNS}", user_id, *args
            )
    if row is None:
        raise NotFound(f"user {user_id} does not exist")
    return _user(row)


async def set_balance(db: Executor, user_id: int, balance_minor: int) -> User:
    """Set a user's balance (an admin correction).

    Raises:
        NotFound: there is no such user.
        Invalid: the balance is negative.
    """
    with refusing_violations():
        async with using(db) as conn:
            row = await conn.fetchrow(
                f"UPDATE users SET balance_minor = $2 WHERE id = $1 RETURNING {_USER_COLUMNS}",
                user_id, balance_minor,
            )  # fmt: skip
    if row is None:
        raise NotFound(f"user {user_id} does not exist")
    return _user(row)


async def credit(db: Executor, user_id: int, amount_minor: int) -> User:
    """Add ``amount_minor`` to a user's balance in one atomic update (a top-up).

    Raises:
        NotFound: there is no such user.
        Invalid: the amount is not positive.

    Example::

        user = await credit(db, 7, 10_00)   # +10.00 in the user's currency
    """
    if amount_minor <= 0:
        raise Invalid(f"credit amount must be positive; got {amount_minor}")
    with refusing_violations():
        async with using(db) as conn:
            row = await conn.fetchrow(
                "UPDATE users SET balance_minor = balance_minor + $2 WHERE id = $1"
                f" RETURNING {_USER_COLUMNS}",
                user_id, amount_minor,
            )  # fmt: skip
    if row is None:
        raise NotFound(f"user {user_id} does not exist")
    return _user(row)


async def store_refresh_token(
    db: Executor, *, token_hash: str, user_id: int, expires_at: datetime
) -> RefreshToken:
    """Record a newly issued refresh token by its digest.

    Raises:
        NotFound: the user does not exist.
        Conflict: the digest is already stored.
    """
    with refusing_violations():
        async with using(db) as conn:
            row = await conn.fetchrow(
                "INSERT INTO refresh_tokens (token_hash, user_id, expires_at)"
                f" VALUES ($1, $2, $3) RETURNING {_TOKEN_COLUMNS}",
                token_hash, user_id, expires_at,
            )  # fmt: skip
    return _token(row)


async def lookup_refresh_token(db: Executor, token_hash: str) -> RefreshToken | None:
    """Return the stored token with this digest, expired and revoked ones included.

    Returns ``None`` for an unknown digest; whether a found token is still
    usable (``revoked_at``, ``expires_at``) is the caller's decision.
    """
    async with using(db) as conn:
        row = await conn.fetchrow(
            f"SELECT {_TOKEN_COLUMNS} FROM refresh_tokens WHERE token_hash = $1", token_hash
        )
    return None if row is None else _token(row)


async def consume_refresh_token(db: Executor, token_hash: str) -> RefreshToken | None:
    """Revoke a token if it is still usable, in one statement (for rotation).

    Two requests presenting the same token cannot both succeed: the second
    gets ``None``.

    Returns:
        The token as it was before this call (``revoked_at`` still ``None``),
        or ``None`` when it is unknown, expired or already revoked.
    """
    async with using(db) as conn:
        row = await conn.fetchrow(
            "UPDATE refresh_tokens SET revoked_at = now()"
            " WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > now()"
            " RETURNING token_hash, user_id, created_at, expires_at,"
            " NULL::timestamptz AS revoked_at",
            token_hash,
        )
    return None if row is None else _token(row)


async def revoke_refresh_token(db: Executor, token_hash: str) -> bool:
    """Revoke one token. Returns ``True`` if it was usable until now."""
    async with using(db) as conn:
        status = await conn.execute(
            "UPDATE refresh_tokens SET revoked_at = now()"
            " WHERE token_hash = $1 AND revoked_at IS NULL",
            token_hash,
        )
    return status != "UPDATE 0"


async def revoke_user_refresh_tokens(db: Executor, user_id: int) -> int:
    """Revoke every usable token of a user (log out everywhere). Returns how many."""
    async with using(db) as conn:
        status = await conn.execute(
            "UPDATE refresh_tokens SET revoked_at = now()"
            " WHERE user_id = $1 AND revoked_at IS NULL",
            user_id,
        )
    return int(status.split()[-1])
