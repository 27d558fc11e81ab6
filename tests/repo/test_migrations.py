from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from bitnexus.exceptions import Misuse
from bitnexus.repo.database import Database
from bitnexus.repo.migrations import load_migrations, migrate, migrations_fingerprint, pending
from bitnexus.repo.testing import PostgresTestServer


@pytest.fixture
async def empty_database(postgres_server: PostgresTestServer):
    async with postgres_server.database(migrated=False) as db:
        yield db


def _write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir()
    for name, sql in files.items():
        (folder / name).write_text(sql)
    return folder


async def test_bundled_migrations_are_found_in_numeric_order():
    labels = [migration.label for migration in load_migrations()]
    assert labels[0] == "001_initial"
    assert labels == sorted(labels)


async def test_migrate_applies_each_file_once_and_records_it(empty_database: Database):
    assert await pending(empty_database) == ["001_initial"]

    assert await migrate(empty_database) == ["001_initial"]

    async with empty_database.acquire() as conn:
        rows = await conn.fetch("SELECT version, name, applied_at FROM schema_migrations")
        assert [(r["version"], r["name"]) for r in rows] == [(1, "initial")]
        assert rows[0]["applied_at"] is not None
        assert await conn.fetchval("SELECT to_regclass('transactions')") is not None
    assert await pending(empty_database) == []
    assert await migrate(empty_database) == []


async def test_two_nodes_migrating_at_once_apply_each_migration_exactly_once(
    postgres_server: PostgresTestServer,
):
    async with (
        postgres_server.database_dsn(migrated=False) as dsn,
        Database(dsn=dsn) as node_a,
        Database(dsn=dsn) as node_b,
    ):
        results = await asyncio.gather(migrate(node_a), migrate(node_b))
        assert sorted(results) == [[], ["001_initial"]]
        async with node_a.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 1


async def test_a_failing_migration_is_rolled_back_and_left_pending(
    empty_database: Database, tmp_path: Path
):
    source = _write(
        tmp_path / "migrations",
        {
            "001_first.sql": "CREATE TABLE first_table (id int);",
            "002_broken.sql": "CREATE TABLE second_table (id int); SELECT 1 / 0;",
            "003_never.sql": "CREATE TABLE third_table (id int);",
            "README.md": "not a migration",
        },
    )
    with pytest.raises(asyncpg.DivisionByZeroError):
        await migrate(empty_database, source=source)

    assert await pending(empty_database, source=source) == ["002_broken", "003_never"]
    async with empty_database.acquire() as conn:
        assert await conn.fetchval("SELECT to_regclass('first_table')") is not None
        assert await conn.fetchval("SELECT to_regclass('second_table')") is None
        # The advisory lock was released: another migrate does not hang.
        held = await conn.fetchval(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
            " WHERE l.locktype = 'advisory' AND d.datname = current_database()"
        )
        assert held == 0


async def test_migrations_sharing_a_version_number_are_misuse(tmp_path: Path):
    source = _write(tmp_path / "m", {"001_a.sql": "SELECT 1;", "001_b.sql": "SELECT 2;"})
    with pytest.raises(Misuse, match="share version 1"):
        load_migrations(source)


async def test_fingerprint_changes_when_a_migration_changes(tmp_path: Path):
    before = migrations_fingerprint(_write(tmp_path / "a", {"001_a.sql": "SELECT 1;"}))
    after = migrations_fingerprint(_write(tmp_path / "b", {"001_a.sql": "SELECT 2;"}))
    assert before != after
    assert migrations_fingerprint() == migrations_fingerprint()
