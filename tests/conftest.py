"""Shared fixtures: a fresh actor node per test, and real PostgreSQL (one server
per session, a fresh database per test)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from bitnexus.actors import Node
from bitnexus.repo.database import Database
from bitnexus.repo.testing import PostgresTestServer, postgres_test_server


@pytest.fixture
async def node() -> AsyncIterator[Node]:
    """A fresh node; whatever a test leaves running is shut down after it."""
    node = Node()
    yield node
    await node.shutdown(timeout=1.0)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresTestServer]:
    """``DATABASE_URL``'s server, or an embedded one, with the migrated template built."""
    with postgres_test_server() as server:
        yield server


@pytest.fixture
async def database(postgres_server: PostgresTestServer) -> AsyncIterator[Database]:
    """A started pool (up to 20 connections) on a fresh, migrated database."""
    async with postgres_server.database(max_size=20) as db:
        yield db


@pytest.fixture
async def database_url(postgres_server: PostgresTestServer) -> AsyncIterator[str]:
    """The DSN of a fresh, migrated database, for servers started as subprocesses
    (so they never migrate or write into a shared database)."""
    async with postgres_server.database_dsn() as dsn:
        yield dsn


@pytest.fixture(scope="module")
def module_database_url(postgres_server: PostgresTestServer) -> Iterator[str]:
    """Like ``database_url``, shared by one test module (for a module-scoped server)."""
    loop = asyncio.new_event_loop()
    manager = postgres_server.database_dsn()
    try:
        dsn = loop.run_until_complete(manager.__aenter__())
        try:
            yield dsn
        finally:
            loop.run_until_complete(manager.__aexit__(None, None, None))
    finally:
        loop.close()
