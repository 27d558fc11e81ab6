"""Demo data for a fresh database: ``bitnexus seed``.

Creates, when missing, an admin, an affiliate, a user referred by that
affiliate with a balance to spend, and a few products. Running it again
changes nothing that exists (matched by email and product name) and creates
what is missing.

Passwords: the admin's comes from ``BITNEXUS_SEED_ADMIN_PASSWORD`` (its email
from ``BITNEXUS_SEED_ADMIN_EMAIL``, default ``admin@example.com``); the demo
accounts' from ``BITNEXUS_SEED_PASSWORD``. Any password not given is generated
and reported once, when the account is created; it is never stored in clear.

Example::

    report = await seed(db, hashers, environ={"BITNEXUS_SEED_ADMIN_PASSWORD": "..."})
    for line in report.lines():
        print(line)
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from bitnexus.actors import Node
from bitnexus.auth.passwords import PasswordHasher
from bitnexus.config import Settings
from bitnexus.exceptions import ConfigError, Refused
from bitnexus.repo import Database, NotFound, migrate, pending, queries
from bitnexus.services.passwords import PasswordHashers
from bitnexus.services.validation import check_email, check_new_password
from bitnexus.supervision import Application

__all__ = [
    "DEMO_PRODUCTS",
    "SchemaBehind",
    "SeedReport",
    "SeededProduct",
    "SeededUser",
    "run_seed",
    "seed",
]

ADMIN_EMAIL_VAR = "BITNEXUS_SEED_ADMIN_EMAIL"
ADMIN_PASSWORD_VAR = "BITNEXUS_SEED_ADMIN_PASSWORD"
DEMO_PASSWORD_VAR = "BITNEXUS_SEED_PASSWORD"
_AFFILIATE_EMAIL = "affiliate@example.com"
_USER_EMAIL = "user@example.com"
_USER_BALANCE_MINOR = 100_00

#: (name, description, price in minor units, currency) of the demo catalogue.
DEMO_PRODUCTS: tuple[tuple[str, str, int, str], ...] = (
    ("Starter plan", "One month of the starter plan.", 9_99, "USD"),
    ("Pro plan", "One month of the pro plan.", 29_00, "USD"),
    ("Support pack", "Five hours of priority support.", 49_50, "USD"),
    ("Sticker", "A BitNexus laptop sticker.", 1_50, "USD"),
)


class SchemaBehind(Refused):
    """The database lacks migrations and this environment does not apply them
    on its own; run ``bitnexus migrate`` first."""

    status = 503


@dataclass(frozen=True, slots=True)
class SeededUser:
    """One seeded account.

    Attributes:
        email: its email.
        role: its role.
        id: its id.
        created: ``False`` when it already existed (left untouched).
        generated_password: the password made for it, when it was created
            with a generated one; ``None`` otherwise.
    """

    email: str
    role: str
    id: int
    created: bool
    generated_password: str | None = None


@dataclass(frozen=True, slots=True)
class SeededProduct:
    """One seeded product: its name, id, and whether this run created it."""

    name: str
    id: int
    created: bool


@dataclass(frozen=True, slots=True)
class SeedReport:
    """What :func:`seed` found and made."""

    users: tuple[SeededUser, ...]
    products: tuple[SeededProduct, ...]

    def lines(self) -> list[str]:
        """Human-readable lines for the command line."""
        out = []
        for user in self.users:
            state = "created" if user.created else "exists "
            line = f"{state} {user.role:<9} #{user.id:<4} {user.email}"
            if user.generated_password is not None:
                line += f"  password: {user.generated_password}  (generated; shown once)"
            out.append(line)
        for product in self.products:
            state = "created" if product.created else "exists "
            out.append(f"{state} product   #{product.id:<4} {product.name}")
        return out


async def seed(
    db: Database, passwords: PasswordHashers, *, environ: Mapping[str, str] | None = None
) -> SeedReport:
    """Create the demo accounts and products that are missing.

    Args:
        db: a running, migrated database.
        passwords: running hashing threads (hashing never blocks the loop).
        environ: where to read the ``BITNEXUS_SEED_*`` variables; ``os.environ``
            when ``None``.

    Raises:
        ConfigError: a seed email or password from the environment is not
            acceptable (bad format, shorter than 8 characters).
    """
    env = os.environ if environ is None else environ
    admin_email = _valid(
        ADMIN_EMAIL_VAR, check_email, env.get(ADMIN_EMAIL_VAR, "admin@example.com")
    )
    admin_password = env.get(ADMIN_PASSWORD_VAR) or None
    demo_password = env.get(DEMO_PASSWORD_VAR) or None
    if admin_password is not None:
        _valid(ADMIN_PASSWORD_VAR, check_new_password, admin_password)
    if demo_password is not None:
        _valid(DEMO_PASSWORD_VAR, check_new_password, demo_password)

    admin = await _ensure_user(db, passwords, admin_email, "admin", admin_password)
    affiliate = await _ensure_user(db, passwords, _AFFILIATE_EMAIL, "affiliate", demo_password)
    user = await _ensure_user(
        db,
        passwords,
        _USER_EMAIL,
        "user",
        demo_password,
        referred_by=affiliate.id,
        balance_minor=_USER_BALANCE_MINOR,
    )
    products = [await _ensure_product(db, *spec) for spec in DEMO_PRODUCTS]
    return SeedReport((admin, affiliate, user), tuple(products))


async def run_seed(settings: Settings, *, environ: Mapping[str, str] | None = None) -> SeedReport:
    """Open the configured database and :func:`seed` it (what ``bitnexus seed`` runs).

    Migrations are applied first when ``database.migrate_on_start`` (dev,
    test); elsewhere a schema that is behind is refused.

    Raises:
        SchemaBehind: migrations are pending and not applied here (503).
        DatabaseUnavailable: no database could be reached or started (503).
        ConfigError: a bad seed email or password in the environment.
    """
    # Imported here: the platform module loads the web layer, which only
    # this entry point needs.
    from bitnexus.platform import open_database

    async with open_database(settings) as db:
        if settings.database.migrate_on_start:
            await migrate(db)
        else:
            behind = await pending(db)
            if behind:
                raise SchemaBehind(
                    f"the database lacks migrations {', '.join(behind)}; run `bitnexus migrate`"
                )
        hashers = PasswordHashers(
            PasswordHasher(
                time_cost=settings.auth.password_time_cost,
                memory_cost=settings.auth.password_memory_cost,
            ),
            timeout=60.0,
        )
        async with Application([hashers.child_spec()], node=Node(), name="bitnexus.seed"):
            return await seed(db, hashers, environ=environ)


def _valid(var: str, check: object, value: str) -> str:
    try:
        return check(value)  # type: ignore[operator,no-any-return]
    except ValueError as exc:
        raise ConfigError(f"{var} {exc}") from None


async def _ensure_user(
    db: Database,
    passwords: PasswordHashers,
    email: str,
    role: str,
    password: str | None,
    *,
    referred_by: int | None = None,
    balance_minor: int = 0,
) -> SeededUser:
    try:
        existing = await queries.get_user_by_email(db, email)
    except NotFound:
        pass
    else:
        return SeededUser(email=existing.email, role=existing.role, id=existing.id, created=False)
    generated = None
    if password is None:
        password = generated = secrets.token_urlsafe(12)
    user = await queries.create_user(
        db,
        email=email,
        password_hash=await passwords.hash(password),
        role=role,
        referred_by=referred_by,
        display_name=role.capitalize(),
        balance_minor=balance_minor,
    )
    return SeededUser(
        email=user.email, role=user.role, id=user.id, created=True, generated_password=generated
    )


async def _ensure_product(
    db: Database, name: str, description: str, price_minor: int, currency: str
) -> SeededProduct:
    matches = await queries.list_products(db, active=None, name_contains=name, limit=100)
    for product in matches:
        if product.name == name:
            return SeededProduct(name=name, id=product.id, created=False)
    product = await queries.create_product(
        db, name=name, description=description, price_minor=price_minor, currency=currency
    )
    return SeededProduct(name=name, id=product.id, created=True)
