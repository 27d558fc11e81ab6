"""Schema migrations: ``repo/migrations/NNN_name.sql`` applied in numeric order.

Each file runs in its own transaction and is recorded in
``schema_migrations(version, name, applied_at)``; a file already recorded is
skipped, so :func:`migrate` is safe to run on every start. A PostgreSQL
advisory lock serialises nodes that start at the same moment: the second
waits, then finds nothing left to do.

The SQL files are read with :mod:`importlib.resources`, so they are found in
an installed wheel as well as in a source checkout.

Example::

    async with Database(dsn=dsn) as db:
        applied = await migrate(db)     # ["001_initial"] the first time, [] after
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from bitnexus.exceptions import Misuse
from bitnexus.repo.database import Executor, using

__all__ = ["Migration", "load_migrations", "migrate", "migrations_fingerprint", "pending"]

log = structlog.get_logger("bitnexus.repo")

# Arbitrary but fixed: every BitNexus node must use the same key.
_LOCK_KEY = 0x62_69_74_6E_65_78_75_73  # "bitnexus"
_FILE_NAME = re.compile(r"^(?P<version>\d{3,})_(?P<name>[a-z0-9_]+)\.sql$")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file.

    Attributes:
        version: the number in front of the file name.
        name: the rest of the file name, without ``.sql``.
        sql: the file's contents.
    """

    version: int
    name: str
    sql: str

    @property
    def label(self) -> str:
        """The file name without ``.sql``, e.g. ``"001_initial"``."""
        return f"{self.version:03d}_{self.name}"


def _default_source() -> Traversable:
    return resources.files("bitnexus.repo").joinpath("migrations")


def load_migrations(source: Traversable | Path | None = None) -> list[Migration]:
    """Read the migration files, sorted by version.

    Args:
        source: a directory of ``NNN_name.sql`` files; BitNexus's own when ``None``.

    Raises:
        Misuse: two files share a version number.

    Example::

        [m.label for m in load_migrations()]    # ["001_initial", ...]
    """
    folder = _default_source() if source is None else source
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None or not entry.is_file():
            continue
        migration = Migration(
            int(match["version"]), match["name"], entry.read_text(encoding="utf-8")
        )
        if migration.version in found:
            raise Misuse(
                f"migrations {found[migration.version].label} and {migration.label} "
                f"share version {migration.version}"
            )
        found[migration.version] = migration
    return [found[version] for version in sorted(found)]


def migrations_fingerprint(source: Traversable | Path | None = None) -> str:
    """A short hash of every migration's version, name and SQL.

    Two sources with the same fingerprint build the same schema; test helpers
    use it to name a template database.
    """
    digest = hashlib.sha256()
    for migration in load_migrations(source):
        digest.update(f"{migration.label}\0{migration.sql}\0".encode())
    return digest.hexdigest()[:12]


async def _applied_versions(conn: Any) -> set[int]:
    rows = await conn.fetch("SELECT version FROM schema_migrations")
    return {row["version"] for row in rows}


async def pending(db: Executor, *, source: Traversable | Path | None = None) -> list[str]:
    """Labels of the migrations not yet applied, in the order they would run.

    Example::

        if await pending(db):
            log.warning("schema is behind; run `bitnexus migrate`")
    """
    migrations = load_migrations(source)
    async with using(db) as conn:
        if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
            return [m.label for m in migrations]
        done = await _applied_versions(conn)
    return [m.label for m in migrations if m.version not in done]


async def migrate(db: Executor, *, source: Traversable | Path | None = None) -> list[str]:
    """Apply every pending migration, each in its own transaction.

    Args:
        db: the database (or a connection) to migrate.
        source: a directory of ``NNN_name.sql`` files; BitNexus's own when ``None``.

    Returns:
        The labels applied by this call, e.g. ``["001_initial"]``; empty when
        the schema was already current.

    Raises:
        asyncpg.PostgresError: a migration failed. It was rolled back, and the
            ones before it stay applied.

    Example::

        for label in await migrate(db):
            print("applied", label)
    """
    migrations = load_migrations(source)
    applied: list[str] = []
    async with using(db) as conn:
        # A session-level lock: held across the per-file transactions, and
        # released by the server if this connection dies half-way.
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(_CREATE_TABLE)
            done = await _applied_versions(conn)
            for migration in migrations:
                if migration.version in done:
                    continue
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        migration.version,
                        migration.name,
                    )
                applied.append(migration.label)
                log.info("migration applied", migration=migration.label)
        finally:
            # If the connection broke, the server already dropped the lock
            # with the session; don't hide the original error behind ours.
            with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied
