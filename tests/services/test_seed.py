"""bitnexus.seed and the ``bitnexus migrate`` / ``bitnexus seed`` commands."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from bitnexus.actors import Node
from bitnexus.cli import main
from bitnexus.exceptions import ConfigError
from bitnexus.repo import queries
from bitnexus.repo.database import Database
from bitnexus.repo.testing import PostgresTestServer, with_database
from bitnexus.seed import DEMO_PRODUCTS, seed
from bitnexus.services import PasswordHashers
from bitnexus.supervision import Application

from .conftest import cheap_hasher


@pytest.fixture
async def hashers() -> AsyncIterator[PasswordHashers]:
    node = Node()
    started = PasswordHashers(cheap_hasher(), name="test.seed.passwords")
    async with Application([started.child_spec()], node=node, name="test.seed"):
        yield started
    await node.shutdown(timeout=1.0)


async def test_seed_creates_the_demo_accounts_and_products_once(
    database: Database, hashers: PasswordHashers
):
    first = await seed(database, hashers, environ={})

    _admin, affiliate, user = first.users
    assert [(u.email, u.role, u.created) for u in first.users] == [
        ("admin@example.com", "admin", True),
        ("affiliate@example.com", "affiliate", True),
        ("user@example.com", "user", True),
    ]
    stored_user = await queries.get_user(database, user.id)
    assert (stored_user.referred_by, stored_user.balance_minor) == (affiliate.id, 100_00)
    for account in first.users:
        assert account.generated_password is not None
        stored = await queries.get_user(database, account.id)
        assert await hashers.verify(stored.password_hash, account.generated_password)
    assert [p.name for p in first.products] == [spec[0] for spec in DEMO_PRODUCTS]
    assert any("generated; shown once" in line for line in first.lines())

    second = await seed(database, hashers, environ={})

    assert [u.id for u in second.users] == [u.id for u in first.users]
    assert [p.id for p in second.products] == [p.id for p in first.products]
    assert not any(u.created or u.generated_password for u in second.users)
    assert not any(p.created for p in second.products)
    assert len(await queries.list_products(database, active=None)) == len(DEMO_PRODUCTS)


async def test_seed_takes_the_admin_and_demo_passwords_from_the_environment(
    database: Database, hashers: PasswordHashers
):
    environ = {
        "BITNEXUS_SEED_ADMIN_EMAIL": "root@example.org",
        "BITNEXUS_SEED_ADMIN_PASSWORD": "admin password",
        "BITNEXUS_SEED_PASSWORD": "demo password",
    }

    report = await seed(database, hashers, environ=environ)

    assert report.users[0].email == "root@example.org"
    assert all(u.generated_password is None for u in report.users)
    admin = await queries.get_user(database, report.users[0].id)
    assert await hashers.verify(admin.password_hash, "admin password")
    user = await queries.get_user(database, report.users[2].id)
    assert await hashers.verify(user.password_hash, "demo password")


async def test_seed_refuses_unusable_credentials_from_the_environment(
    database: Database, hashers: PasswordHashers
):
    for environ in (
        {"BITNEXUS_SEED_ADMIN_PASSWORD": "short"},
        {"BITNEXUS_SEED_ADMIN_EMAIL": "not an email"},
    ):
        with pytest.raises(ConfigError):
            await seed(database, hashers, environ=environ)
    assert await queries.list_users(database) == []


@pytest.fixture
def empty_database(
    postgres_server: PostgresTestServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A new, empty database as DATABASE_URL (for the synchronous CLI)."""
    name = f"bitnexus_test_cli_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(postgres_server.dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    dsn = with_database(postgres_server.dsn, name)
    monkeypatch.setenv("DATABASE_URL", dsn)
    try:
        yield dsn
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_migrate_applies_what_is_pending_and_then_nothing(
    empty_database: str, capsys: pytest.CaptureFixture[str]
):
    assert main(["migrate", "--env", "test", "--status"]) == 0
    assert capsys.readouterr().out == "pending 001_initial\n"

    assert main(["migrate", "--env", "test"]) == 0
    assert capsys.readouterr().out == "applied 001_initial\n"

    assert main(["migrate", "--env", "test"]) == 0
    assert capsys.readouterr().out == "nothing to apply: up to date\n"
    assert main(["migrate", "--env", "test", "--status"]) == 0
    assert capsys.readouterr().out == "the schema is up to date\n"


def test_seed_command_prints_what_it_created_then_what_exists(
    empty_database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("BITNEXUS_SEED_ADMIN_PASSWORD", "admin password")

    assert main(["seed", "--env", "test"]) == 0  # test migrates on its own
    first = capsys.readouterr().out.splitlines()
    assert main(["seed", "--env", "test"]) == 0
    second = capsys.readouterr().out.splitlines()

    assert len(first) == len(second) == 3 + len(DEMO_PRODUCTS)
    assert first[0].startswith("created admin") and "password" not in first[0]
    assert "password:" in first[1]  # the affiliate's was generated
    assert all(line.startswith("exists") for line in second)


def test_seed_command_refuses_a_database_without_the_schema_where_it_does_not_migrate(
    empty_database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("SECRET_KEY_BASE", "k" * 64)

    assert main(["seed", "--env", "prod"]) == 1

    assert "run `bitnexus migrate`" in capsys.readouterr().err
