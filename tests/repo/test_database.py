from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import structlog

from bitnexus.exceptions import ConfigError, Misuse, Refused
from bitnexus.repo.database import (
    Database,
    DatabaseUnavailable,
    EmbeddedPostgres,
    in_transaction,
    resolve_dsn,
    using,
)
from bitnexus.repo.testing import PostgresTestServer, with_database


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_database_moves_from_new_to_running_to_closed(postgres_server: PostgresTestServer):
    async with postgres_server.database_dsn() as dsn:
        db = Database(dsn=dsn, min_size=2, max_size=4)
        assert db.state == "new"
        await db.start()
        assert db.state == "running"
        async with db.acquire() as conn:
            assert await conn.fetchval("SELECT 40 + 2") == 42
        stats = db.statistics()
        assert (stats.state, stats.size, stats.max_size) == ("running", 2, 4)
        await db.close()
        assert db.state == "closed"
        assert db.statistics().size == 0


async def test_acquire_before_start_is_misuse_that_says_to_start_first():
    db = Database(dsn="postgresql://postgres@127.0.0.1/none")
    with pytest.raises(Misuse, match=r"acquire\(\) called before start\(\)"):
        async with db.acquire():
            pass


async def test_transaction_after_close_is_misuse_that_says_the_database_is_closed(
    database: Database,
):
    await database.close()
    with pytest.raises(Misuse, match=r"transaction\(\) called after close\(\)"):
        async with database.transaction():
            pass


async def test_starting_twice_is_misuse(database: Database):
    with pytest.raises(Misuse, match=r"start\(\) called on a database that is running"):
        await database.start()


async def test_closing_twice_or_never_started_is_harmless(database: Database):
    await database.close()
    await database.close()
    never_started = Database(dsn="postgresql://postgres@127.0.0.1/none")
    await never_started.close()
    assert never_started.state == "closed"


async def test_unreachable_server_is_database_unavailable_with_status_503_and_start_can_retry():
    db = Database(dsn=f"postgresql://postgres@127.0.0.1:{_unused_port()}/x", connect_timeout=2)
    with pytest.raises(DatabaseUnavailable) as caught:
        await db.start()
    assert isinstance(caught.value, Refused)
    assert caught.value.status == 503
    assert db.state == "new"
    with pytest.raises(DatabaseUnavailable):
        await db.start()


async def test_missing_database_is_database_unavailable(postgres_server: PostgresTestServer):
    db = Database(dsn=with_database(postgres_server.dsn, "bitnexus_no_such_database"))
    with pytest.raises(DatabaseUnavailable, match="does not exist"):
        await db.start()


async def test_connection_killed_by_the_server_is_database_unavailable(database: Database):
    # Errors are translated where they leave the acquire() block.
    with pytest.raises(DatabaseUnavailable):
        async with database.acquire() as victim:
            pid = await victim.fetchval("SELECT pg_backend_pid()")
            async with database.acquire() as killer:
                await killer.execute("SELECT pg_terminate_backend($1)", pid)
            await asyncio.sleep(0.2)  # let the client read the server's goodbye
            await victim.fetchval("SELECT 1")
    # The pool replaces the dead connection.
    async with database.acquire() as conn:
        assert await conn.fetchval("SELECT 1") == 1


async def test_close_terminates_a_borrowed_connection_after_close_timeout(
    postgres_server: PostgresTestServer,
):
    async with postgres_server.database_dsn() as dsn:
        db = await Database(dsn=dsn, close_timeout=0.2).start()
        with pytest.raises(DatabaseUnavailable):
            async with db.acquire() as conn:
                started = time.monotonic()
                await db.close()
                assert time.monotonic() - started < 2
                assert db.state == "closed"
                await conn.fetchval("SELECT 1")


async def test_transaction_commits_on_success_and_rolls_back_on_error(database: Database):
    async with database.transaction() as conn:
        await conn.execute("CREATE TABLE notes (body text)")
        await conn.execute("INSERT INTO notes VALUES ('kept')")
    with pytest.raises(ZeroDivisionError):
        async with database.transaction() as conn:
            await conn.execute("INSERT INTO notes VALUES ('dropped')")
            _ = 1 / 0
    async with database.acquire() as conn:
        assert await conn.fetchval("SELECT array_agg(body) FROM notes") == ["kept"]


async def test_in_transaction_on_a_held_connection_nests_as_a_savepoint(database: Database):
    async with database.transaction() as conn:
        await conn.execute("CREATE TABLE notes (body text)")
        with pytest.raises(ZeroDivisionError):
            async with in_transaction(conn) as same:
                await same.execute("INSERT INTO notes VALUES ('inner')")
                _ = 1 / 0
        async with using(conn) as same:
            assert same is conn
            assert await same.fetchval("SELECT count(*) FROM notes") == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_size": 5, "max_size": 2},
        {"max_size": 0},
        {"min_size": -1},
        {"command_timeout": 0},
        {"close_timeout": -1},
    ],
)
def test_impossible_pool_settings_are_config_errors(kwargs: dict[str, float]):
    with pytest.raises(ConfigError):
        Database(dsn="postgresql://localhost/x", **kwargs)  # type: ignore[arg-type]


async def test_resolve_dsn_prefers_database_url_and_starts_nothing(tmp_path: Path):
    dsn, embedded = await resolve_dsn("postgresql://postgres@db.example/app", tmp_path / "pg")
    assert (dsn, embedded) == ("postgresql://postgres@db.example/app", None)
    assert not (tmp_path / "pg").exists()


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    # Not tmp_path: as root, the server runs as the 'pgserver' user, and every
    # new pytest session resets /tmp/pytest-of-root to mode 0700, locking that
    # user out of a server another session is still running.
    path = Path(tempfile.mkdtemp(prefix="bitnexus-pg-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_embedded_postgres_starts_in_a_temp_dir_answers_and_keeps_data_across_restarts(
    scratch_dir: Path,
):
    data_dir = scratch_dir / "nested" / "pgdata"
    with structlog.testing.capture_logs() as logs:
        dsn, embedded = await resolve_dsn(None, data_dir)
    assert embedded is not None
    assert {"event": f"embedded PostgreSQL started in {data_dir}"}.items() <= logs[0].items()
    try:
        conn = await asyncpg.connect(dsn)
        await conn.execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)")
        await conn.close()
    finally:
        await embedded.stop()
    with pytest.raises(OSError):
        await asyncpg.connect(dsn, timeout=2)

    again = EmbeddedPostgres(data_dir, cleanup_mode="delete")
    async with again, Database(dsn=again.dsn) as db, db.acquire() as conn:
        assert await conn.fetchval("SELECT n FROM kept") == 7
    assert not data_dir.exists()


async def test_embedded_postgres_dsn_before_start_is_misuse(tmp_path: Path):
    with pytest.raises(Misuse, match="while the server is new"):
        _ = EmbeddedPostgres(tmp_path / "pg").dsn


async def test_cancelled_close_still_terminates_the_pool(postgres_server: PostgresTestServer):
    async with postgres_server.database_dsn() as dsn:
        db = await Database(dsn=dsn, close_timeout=30).start()
        with pytest.raises(DatabaseUnavailable):
            async with db.acquire() as conn:
                closing = asyncio.ensure_future(db.close())
                await asyncio.sleep(0.05)
                closing.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await closing
                assert db.state == "closed"
                await conn.fetchval("SELECT 1")
