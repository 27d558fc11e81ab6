"""Running services on a fresh database: the three pools, real hashing threads,
a recording ``notify`` and a recording ``disconnect``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from bitnexus.actors import Node
from bitnexus.auth import PasswordHasher, SigningKey, Tokens
from bitnexus.repo.database import Database
from bitnexus.services import (
    AccountsService,
    PasswordHashers,
    ProductsService,
    ServicePool,
    TransactionsService,
)
from bitnexus.supervision import Application

REFRESH_TTL = 3600


def cheap_hasher() -> PasswordHasher:
    """argon2 at the lowest cost: real hashes, test speed."""
    return PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)


@dataclass
class Recorder:
    """A ``notify(topic, event, payload)`` that remembers every call."""

    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, topic: str, event: str, payload: dict[str, Any]) -> None:
        self.calls.append((topic, event, payload))

    def on(self, topic: str, event: str | None = None) -> list[dict[str, Any]]:
        """Payloads sent on ``topic`` (with ``event``), oldest first."""
        return [p for t, e, p in self.calls if t == topic and (event is None or e == event)]


@dataclass
class Services:
    """The running pools and what they told the outside world."""

    db: Database
    node: Node
    tokens: Tokens
    hashers: PasswordHashers
    accounts: ServicePool
    products: ServicePool
    transactions: ServicePool
    notified: Recorder
    disconnected: list[int]


@pytest.fixture
async def services(database: Database) -> AsyncIterator[Services]:
    node = Node()
    notified = Recorder()
    disconnected: list[int] = []
    tokens = Tokens(
        keys=[SigningKey("k1", b"t" * 32)], issuer="bitnexus", audience="test", access_ttl=900
    )
    hashers = PasswordHashers(cheap_hasher(), size=2, name="test.passwords")
    accounts = ServicePool(
        "test.accounts",
        lambda: AccountsService(
            database,
            tokens=tokens,
            passwords=hashers,
            refresh_ttl=REFRESH_TTL,
            disconnect=disconnected.append,
        ),
        size=4,
    )
    products = ServicePool("test.products", lambda: ProductsService(database), size=4)
    transactions = ServicePool(
        "test.transactions",
        lambda: TransactionsService(lambda: database, notify=notified),
        size=8,
        timeout=30.0,
    )
    children = [s.child_spec() for s in (hashers, accounts, products, transactions)]
    async with Application(children, node=node, name="test.services"):
        yield Services(
            database,
            node,
            tokens,
            hashers,
            accounts,
            products,
            transactions,
            notified,
            disconnected,
        )
    await node.shutdown(timeout=1.0)
