from __future__ import annotations

import asyncpg
import pytest

from bitnexus.repo.queries import list_users
from bitnexus.repo.testing import (
    PostgresTestServer,
    create_template,
    make_product,
    make_user,
    with_database,
)


async def test_each_fresh_database_is_isolated_and_migrated(postgres_server: PostgresTestServer):
    async with postgres_server.database() as first, postgres_server.database() as second:
        await make_user(first)
        assert len(await list_users(first)) == 1
        assert await list_users(second) == []


async def test_a_fresh_database_is_dropped_when_its_block_ends(
    postgres_server: PostgresTestServer,
):
    async with postgres_server.database_dsn() as dsn:
        name = dsn.rsplit("/", 1)[1].split("?")[0]
        # A connection the test forgot to close must not keep the database alive.
        leaked = await asyncpg.connect(dsn)
    admin = await asyncpg.connect(postgres_server.dsn)
    try:
        assert await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name) is None
    finally:
        await admin.close()
        leaked.terminate()


async def test_an_unmigrated_fresh_database_has_no_tables(postgres_server: PostgresTestServer):
    async with postgres_server.database(migrated=False) as db, db.acquire() as conn:
        assert await conn.fetchval("SELECT to_regclass('users')") is None


async def test_building_the_template_again_reuses_it(postgres_server: PostgresTestServer):
    assert await create_template(postgres_server.dsn) == postgres_server.template


async def test_factories_make_distinct_rows(postgres_server: PostgresTestServer):
    async with postgres_server.database() as db:
        users = [await make_user(db) for _ in range(3)]
        products = [await make_product(db) for _ in range(3)]
    assert len({u.email for u in users}) == 3
    assert len({p.name for p in products}) == 3


@pytest.mark.parametrize(
    ("dsn", "expected"),
    [
        ("postgresql://postgres@127.0.0.1:5432/test", "postgresql://postgres@127.0.0.1:5432/x"),
        ("postgresql://postgres:@/postgres?host=/tmp/pg", "postgresql://postgres:@/x?host=/tmp/pg"),
    ],
)
def test_with_database_swaps_only_the_database_name(dsn: str, expected: str):
    assert with_database(dsn, "x") == expected
