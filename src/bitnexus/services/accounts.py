"""Accounts: registration, login, refresh-token rotation, profiles, balances.

Run it as a :class:`~bitnexus.services.ServicePool` of workers; every
operation is a coroutine called through ``await pool.call(op, **kwargs)``.
Passwords are hashed and verified on :class:`PasswordHashers` threads, never
on the event loop.

Sessions: ``login`` returns a short-lived JWT access token and an opaque
refresh token (only its SHA-256 digest is stored). ``refresh`` consumes the
refresh token and issues a new pair (rotation). Presenting a refresh token
that was already consumed or revoked is treated as theft (RFC 9700 §4.14.2):
every refresh token of that user is revoked, so whoever holds one must log in
again.

Example::

    accounts = ServicePool("accounts", lambda: AccountsService(db, tokens=tokens,
                           passwords=hashers, refresh_ttl=14 * 86400), size=10)
    user = await accounts.call("register", email="ada@example.com", password="s3cret-pass")
    pair = await accounts.call("login", email="ada@example.com", password="s3cret-pass")
    pair = await accounts.call("refresh", refresh_token=pair.refresh_token)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bitnexus.auth.roles import Role, UnknownRole
from bitnexus.auth.tokens import Tokens, hash_refresh_token, new_refresh_token
from bitnexus.exceptions import Refused
from bitnexus.repo import UNSET, Conflict, Database, NotFound, User, queries
from bitnexus.services._base import DatabaseService, DatabaseSource
from bitnexus.services.passwords import PasswordHashers
from bitnexus.services.validation import (
    MAX_AMOUNT_MINOR,
    FieldConflict,
    FieldErrors,
    ValidationFailed,
    check_display_name,
    check_email,
    check_id,
    check_new_password,
    check_page,
)

__all__ = ["AccountsService", "InvalidCredentials", "InvalidRefreshToken", "TokenPair"]

_log = logging.getLogger("bitnexus.services.accounts")
# A repeatable-read balance correction that keeps colliding with purchases
# gives up after this many attempts (409, try again).
_BALANCE_ATTEMPTS = 5


class InvalidCredentials(Refused):
    """Unknown email or wrong password (the two are indistinguishable); 401."""

    status = 401

    def __init__(self) -> None:
        self.errors = {"detail": "invalid email or password", "reason": "invalid_credentials"}
        super().__init__("invalid email or password")


class InvalidRefreshToken(Refused):
    """A refresh token that is unknown, expired, revoked or already used; 401.

    The client must log in again.
    """

    status = 401

    def __init__(self, detail: str = "invalid refresh token") -> None:
        self.errors = {"detail": "invalid refresh token", "reason": "invalid_refresh_token"}
        super().__init__(detail)


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenPair:
    """What ``login`` and ``refresh`` hand out.

    Attributes:
        access_token: the JWT for ``Authorization: Bearer`` and socket connects.
        refresh_token: opaque; give it to ``refresh`` once, or to ``logout``.
        token_type: always ``"bearer"``.
        expires_in: seconds the access token stays valid.
        user: the account the tokens are for.
        refresh_expires_in: seconds the refresh token stays valid.
    """

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    token_type: str = "bearer"
    expires_in: int
    user: User
    refresh_expires_in: int


class AccountsService(DatabaseService):
    """Users and their sessions.

    Args:
        db: the database, or a function returning the running one.
        tokens: issues access tokens.
        passwords: the hashing threads.
        refresh_ttl: seconds a refresh token lives.
        disconnect: called with a user id whose live sockets must close
            (logout, role change); ``None`` to skip.
    """

    operations = (
        "register",
        "login",
        "refresh",
        "logout",
        "get_user",
        "update_profile",
        "list_users",
        "admin_update_user",
        "adjust_balance",
    )

    def __init__(
        self,
        db: DatabaseSource,
        *,
        tokens: Tokens,
        passwords: PasswordHashers,
        refresh_ttl: float,
        disconnect: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(db)
        self.tokens = tokens
        self.passwords = passwords
        self.refresh_ttl = refresh_ttl
        self._disconnect = disconnect

    async def register(
        self,
        email: str,
        password: str,
        display_name: str | None = None,
        referred_by: int | None = None,
    ) -> User:
        """Create an account with role ``user``.

        Raises:
            ValidationFailed: bad email, password (8 to 1024 characters),
                display name, or ``referred_by`` that is not an affiliate (422).
            FieldConflict: the email is taken, whatever its case (409).
        """
        errors = FieldErrors()
        email = errors.check("email", check_email, email)
        password = errors.check("password", check_new_password, password)
        display_name = errors.check("display_name", check_display_name, display_name)
        if referred_by is not None:
            referred_by = errors.check("referred_by", check_id, referred_by)
        errors.raise_if_any()
        db = self.db
        if referred_by is not None:
            await _require_affiliate(db, referred_by)
        password_hash = await self.passwords.hash(password)
        try:
            return await queries.create_user(
                db,
                email=email,
                password_hash=password_hash,
                role=Role.USER.value,
                referred_by=referred_by,
                display_name=display_name,
            )
        except Conflict:
            raise FieldConflict("email", "has already been taken") from None

    async def login(self, email: str, password: str) -> TokenPair:
        """Check the password and open a session.

        Raises:
            ValidationFailed: email or password missing (422).
            InvalidCredentials: no such account or a wrong password (401);
                both take the time of a real verification.
        """
        errors = FieldErrors()
        if not isinstance(email, str) or not email.strip():
            errors.add("email", "can't be blank")
        if not isinstance(password, str) or not password:
            errors.add("password", "can't be blank")
        errors.raise_if_any()
        db = self.db
        try:
            user = await queries.get_user_by_email(db, email.strip())
        except NotFound:
            await self.passwords.dummy_verify(password)
            raise InvalidCredentials() from None
        if not await self.passwords.verify(user.password_hash, password):
            raise InvalidCredentials()
        if self.passwords.needs_rehash(user.password_hash):
            # The cost settings went up since this hash was made: upgrade it
            # now, while we have the password.
            new_hash = await self.passwords.hash(password)
            user = await queries.update_user(db, user.id, password_hash=new_hash)
        return await self._issue(db, user)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Trade a refresh token for a new pair; the old token is used up.

        The new access token carries the user's current role.

        Raises:
            InvalidRefreshToken: unknown, expired, revoked or already used
                (401). Reuse of a used or revoked token revokes every refresh
                token of its user.
        """
        if not isinstance(refresh_token, str) or not refresh_token:
            raise InvalidRefreshToken("no refresh token")
        digest = hash_refresh_token(refresh_token)
        db = self.db
        async with db.transaction() as conn:
            consumed = await queries.consume_refresh_token(conn, digest)
            if consumed is not None:
                user = await queries.get_user(conn, consumed.user_id)
                return await self._issue(conn, user)
        stored = await queries.lookup_refresh_token(db, digest)
        now = datetime.now(UTC)
        if stored is not None and stored.revoked_at is not None and stored.expires_at > now:
            revoked = await queries.revoke_user_refresh_tokens(db, stored.user_id)
            _log.warning(
                "refresh token of user %s presented again after it was used or revoked; "
                "revoked the user's %d other refresh tokens",
                stored.user_id,
                revoked,
            )
            raise InvalidRefreshToken("refresh token reused")
        raise InvalidRefreshToken("unknown or expired refresh token")

    async def logout(self, refresh_token: str) -> None:
        """Revoke a refresh token and close its user's live sockets.

        Unknown or already revoked tokens are ignored (logout is idempotent
        and says nothing about which tokens exist).
        """
        if not isinstance(refresh_token, str) or not refresh_token:
            return
        db = self.db
        digest = hash_refresh_token(refresh_token)
        stored = await queries.lookup_refresh_token(db, digest)
        if stored is None:
            return
        if await queries.revoke_refresh_token(db, digest):
            self._close_sockets(stored.user_id)

    async def get_user(self, user_id: int) -> User:
        """The account with this id.

        Raises:
            NotFound: there is none (404).
        """
        return await queries.get_user(self.db, _valid_id("user_id", user_id))

    async def update_profile(
        self, user_id: int, display_name: Any = UNSET, password: Any = UNSET
    ) -> User:
        """Change one's own display name and/or password.

        A new password revokes every refresh token of the user: every session,
        this one included, must log in again once its access token expires.

        Raises:
            ValidationFailed: a bad display name or password (422).
            NotFound: no such user (404).
        """
        errors = FieldErrors()
        user_id = _valid_id("user_id", user_id)
        changes: dict[str, Any] = {}
        if display_name is not UNSET:
            changes["display_name"] = errors.check("display_name", check_display_name, display_name)
        if password is not UNSET:
            password = errors.check("password", check_new_password, password)
        errors.raise_if_any()
        db = self.db
        if password is not UNSET:
            changes["password_hash"] = await self.passwords.hash(password)
        async with db.transaction() as conn:
            user = await queries.update_user(conn, user_id, **changes)
            if "password_hash" in changes:
                await queries.revoke_user_refresh_tokens(conn, user_id)
        return user

    async def list_users(
        self, limit: int = 50, offset: int = 0, role: str | None = None
    ) -> list[User]:
        """Accounts in id order, one page at a time, optionally of one role.

        Raises:
            ValidationFailed: bad ``limit`` (1..1000), ``offset`` or ``role`` (422).
        """
        errors = FieldErrors()
        check_page(errors, limit, offset)
        if role is not None:
            role = errors.check("role", _check_role, role)
        errors.raise_if_any()
        return await queries.list_users(self.db, limit=limit, offset=offset, role=role)

    async def admin_update_user(
        self,
        user_id: int,
        role: Any = UNSET,
        display_name: Any = UNSET,
        referred_by: Any = UNSET,
    ) -> User:
        """Change another account's role, display name or referrer (admin).

        A role change closes the user's live sockets, so they reconnect and
        join under the rules of their new role.

        Raises:
            ValidationFailed: an unknown role, a bad display name, or a
                referrer that is not an affiliate or is the user (422).
            NotFound: no such user (404).
        """
        errors = FieldErrors()
        user_id = _valid_id("user_id", user_id)
        changes: dict[str, Any] = {}
        if role is not UNSET:
            changes["role"] = errors.check("role", _check_role, role)
        if display_name is not UNSET:
            changes["display_name"] = errors.check("display_name", check_display_name, display_name)
        if referred_by is not UNSET and referred_by is not None:
            referred_by = errors.check("referred_by", check_id, referred_by)
            if referred_by == user_id:
                errors.add("referred_by", "can't be the user themselves")
        errors.raise_if_any()
        db = self.db
        before = await queries.get_user(db, user_id)
        if referred_by is not UNSET:
            if referred_by is not None:
                await _require_affiliate(db, referred_by)
            changes["referred_by"] = referred_by
        user = await queries.update_user(db, user_id, **changes)
        if user.role != before.role:
            self._close_sockets(user_id)
        return user

    async def adjust_balance(self, user_id: int, amount_minor: int) -> User:
        """Credit (positive) or debit (negative) a balance, in minor units (admin).

        Raises:
            ValidationFailed: zero, not an integer, beyond 10**15 in size, or
                a debit larger than the balance (422).
            NotFound: no such user (404).
        """
        user_id = _valid_id("user_id", user_id)
        if (
            not isinstance(amount_minor, int)
            or isinstance(amount_minor, bool)
            or amount_minor == 0
            or abs(amount_minor) > MAX_AMOUNT_MINOR
        ):
            raise ValidationFailed(
                {"amount_minor": [f"must be a non-zero integer within ±{MAX_AMOUNT_MINOR}"]}
            )
        db = self.db
        if amount_minor > 0:
            return await queries.credit(db, user_id, amount_minor)
        return await _debit(db, user_id, -amount_minor)

    async def _issue(self, db: Any, user: User) -> TokenPair:
        access = self.tokens.issue_access(str(user.id), user.role)
        token, digest = new_refresh_token()
        expires_at = datetime.now(UTC) + timedelta(seconds=self.refresh_ttl)
        await queries.store_refresh_token(
            db, token_hash=digest, user_id=user.id, expires_at=expires_at
        )
        return TokenPair(
            access_token=access,
            refresh_token=token,
            expires_in=int(self.tokens.access_ttl),
            user=user,
            refresh_expires_in=int(self.refresh_ttl),
        )

    def _close_sockets(self, user_id: int) -> None:
        if self._disconnect is None:
            return
        try:
            self._disconnect(user_id)
        except Exception:
            # The database change stands; a socket that stays open is no
            # reason to fail the request that made it.
            _log.exception("could not disconnect the sockets of user %s", user_id)


def _valid_id(field_name: str, value: Any) -> int:
    errors = FieldErrors()
    checked = errors.check(field_name, check_id, value)
    errors.raise_if_any()
    assert checked is not None
    return checked


def _check_role(value: Any) -> str:
    try:
        return Role.parse(value).value
    except UnknownRole:
        raise ValueError(f"must be one of {', '.join(r.value for r in Role)}") from None


async def _require_affiliate(db: Database, user_id: int) -> None:
    try:
        referrer = await queries.get_user(db, user_id)
    except NotFound:
        referrer = None
    if referrer is None or referrer.role != Role.AFFILIATE.value:
        raise ValidationFailed({"referred_by": ["must be the id of an affiliate"]})


async def _debit(db: Database, user_id: int, amount: int) -> User:
    # Read-then-write under repeatable read: if a purchase changes the row
    # between our read and our write, PostgreSQL refuses our write instead
    # of letting it overwrite the purchase's debit; then we read again.
    for _ in range(_BALANCE_ATTEMPTS):
        try:
            async with db.transaction(isolation="repeatable_read") as conn:
                user = await queries.get_user(conn, user_id)
                if user.balance_minor < amount:
                    raise ValidationFailed(
                        {
                            "amount_minor": [
                                f"would make the balance negative (balance {user.balance_minor})"
                            ]
                        }
                    )
                return await queries.set_balance(conn, user_id, user.balance_minor - amount)
        except asyncpg.SerializationError:
            continue
    raise Conflict("the balance kept changing during the correction; try again")
