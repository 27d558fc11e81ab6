"""bitnexus.platform: the platform composed on a server (lives here with the
services it wires; the socket itself is tested in tests/web/test_user_socket.py)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from bitnexus.config import Settings, load_settings
from bitnexus.exceptions import Misuse
from bitnexus.platform import (
    Platform,
    open_database,
    platform_component,
    redact_dsn,
    tokens_from_settings,
)
from bitnexus.repo import DatabaseUnavailable, pending
from bitnexus.repo.testing import PostgresTestServer
from bitnexus.server import build_server
from bitnexus.web.keys import APPLICATION_KEY, PLATFORM_KEY


def settings_for(dsn: str, **changes: object) -> Settings:
    values = {"database.url": dsn, "database.pool_min": 1, "database.pool_max": 3}
    values.update(changes)
    return load_settings("test", environ={}).override(values)


def logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in str(record.msg) for record in caplog.records)


@pytest.fixture
async def empty_dsn(postgres_server: PostgresTestServer) -> AsyncIterator[str]:
    async with postgres_server.database_dsn(migrated=False) as dsn:
        yield dsn


def test_tokens_survive_a_restart_with_the_same_secret_and_no_other():
    auth = load_settings("test", environ={"SECRET_KEY_BASE": "a" * 64}).auth
    other = load_settings("test", environ={"SECRET_KEY_BASE": "b" * 64}).auth
    token = tokens_from_settings(auth).issue_access("7", "affiliate")

    claims = tokens_from_settings(auth).verify_access(token)

    assert (claims.subject, claims.role.value) == ("7", "affiliate")
    with pytest.raises(Exception, match="invalid"):
        tokens_from_settings(other).verify_access(token)


def test_redact_dsn_hides_only_the_password():
    assert redact_dsn("postgresql://app:s3cret@db:5432/app") == "postgresql://app:***@db:5432/app"
    assert redact_dsn("postgresql://postgres@127.0.0.1/x") == "postgresql://postgres@127.0.0.1/x"


def test_a_platform_can_be_built_without_starting_anything():
    platform = Platform(settings_for("postgresql://nowhere/x"))

    assert [spec.id for spec in platform.child_specs()] == [
        "bitnexus.passwords",
        "bitnexus.accounts",
        "bitnexus.products",
        "bitnexus.transactions",
    ]
    with pytest.raises(Misuse, match="once the platform has started"):
        platform.db  # noqa: B018


async def test_start_migrates_when_configured_and_stop_closes_the_pool(
    empty_dsn: str, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    platform = Platform(settings_for(empty_dsn, **{"database.migrate_on_start": True}))

    await platform.start()
    try:
        assert await pending(platform.db) == []
        assert logged(caplog, "database: DATABASE_URL") and logged(caplog, "001_initial")
        with pytest.raises(Misuse):
            await platform.start()
    finally:
        await platform.stop()

    assert platform.db.state == "closed"
    await platform.stop()  # twice is fine


async def test_without_migrate_on_start_a_schema_behind_is_only_reported(
    empty_dsn: str, caplog: pytest.LogCaptureFixture
):
    platform = Platform(settings_for(empty_dsn, **{"database.migrate_on_start": False}))

    await platform.start()
    try:
        assert await pending(platform.db) == ["001_initial"]
        assert logged(caplog, "run `bitnexus migrate`")
    finally:
        await platform.stop()


async def test_an_unreachable_database_fails_the_start_and_it_may_be_retried():
    platform = Platform(settings_for("postgresql://postgres@127.0.0.1:1/none"))

    for _ in range(2):
        with pytest.raises(DatabaseUnavailable):
            await platform.start()


@pytest.fixture
def scratch_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: its parents are made private between sessions,
    # which locks the embedded server's system user out (see repo.database).
    shm = "/dev/shm" if os.path.isdir("/dev/shm") else None
    root = Path(tempfile.mkdtemp(prefix="bitnexus-platform-", dir=shm))
    yield root
    shutil.rmtree(root, ignore_errors=True)


async def test_with_no_database_url_an_embedded_server_runs_in_the_data_dir(
    scratch_dir: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    settings = settings_for("", **{"database.data_dir": str(scratch_dir / "pgdata")})

    async with open_database(settings) as db, db.acquire() as conn:
        assert await conn.fetchval("SELECT 1") == 1

    assert logged(caplog, "no DATABASE_URL; starting embedded PostgreSQL")
    assert logged(caplog, "embedded PostgreSQL stopped")


async def test_the_server_opens_the_database_before_the_services_and_closes_it_after(
    postgres_server: PostgresTestServer,
):
    async with postgres_server.database_dsn() as dsn:
        app = build_server(settings_for(dsn, **{"demo.enabled": False}))
        platform = app[PLATFORM_KEY]
        # The database component runs before the supervision tree starts.
        names = [getattr(ctx, "__name__", "") for ctx in app.cleanup_ctx]
        assert names.index(platform_component.__name__) < names.index("_runtime_component")
        paths = {route.resource.canonical for route in app.router.routes() if route.resource}
        assert {"/socket/websocket", "/socket/longpoll"} <= paths

        runner = web.AppRunner(app)
        await runner.setup()
        try:
            node = app[APPLICATION_KEY].node
            for pool in ("bitnexus.accounts", "bitnexus.products", "bitnexus.transactions"):
                assert [node.whereis(f"{pool}.{i}") is not None for i in range(4)] == [
                    True, True, True, False,
                ]  # fmt: skip
            assert node.whereis("bitnexus.passwords.1") is not None
            user = await platform.accounts.call(
                "register", email="ada@example.com", password="correct horse"
            )
            assert user.id == (await platform.accounts.call("get_user", user_id=user.id)).id
        finally:
            await runner.cleanup()

        assert not app[APPLICATION_KEY].running
        assert platform.db.state == "closed"
