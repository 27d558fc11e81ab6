from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import pytest

from bitnexus.actors import Node
from bitnexus.auth import PasswordHasher, PasswordRejected
from bitnexus.exceptions import NoProcess
from bitnexus.services import PasswordHashers
from bitnexus.supervision import Application

from .conftest import cheap_hasher


class RecordingHasher(PasswordHasher):
    """Remembers which threads hashed and verified."""

    def __init__(self, **costs: int) -> None:
        super().__init__(**costs)
        self.threads: set[int] = set()

    def hash(self, password: str) -> str:
        self.threads.add(threading.get_ident())
        return super().hash(password)

    def verify(self, stored_hash: str, password: str) -> bool:
        self.threads.add(threading.get_ident())
        return super().verify(stored_hash, password)


async def running(hashers: PasswordHashers) -> AsyncIterator[PasswordHashers]:
    node = Node()
    async with Application([hashers.child_spec()], node=node, name="test.hashers"):
        yield hashers
    await node.shutdown(timeout=1.0)


@pytest.fixture
async def hashers() -> AsyncIterator[PasswordHashers]:
    async for started in running(PasswordHashers(cheap_hasher(), size=2)):
        yield started


async def test_a_hashed_password_verifies_and_other_passwords_do_not(hashers: PasswordHashers):
    stored = await hashers.hash("correct horse battery")

    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert await hashers.verify(stored, "correct horse battery") is True
    assert await hashers.verify(stored, "correct horse battery!") is False
    assert await hashers.verify("not a hash", "correct horse battery") is False


async def test_an_empty_password_is_refused_and_the_threads_keep_working(
    hashers: PasswordHashers,
):
    with pytest.raises(PasswordRejected) as refused:
        await hashers.hash("")

    assert refused.value.status == 422
    for _ in range(4):  # both threads still answer
        assert await hashers.verify(await hashers.hash("still here"), "still here")


async def test_dummy_verify_always_says_no(hashers: PasswordHashers):
    assert await hashers.dummy_verify("anything") is False


async def test_needs_rehash_spots_a_hash_made_with_other_costs(hashers: PasswordHashers):
    current = await hashers.hash("pw-123456")
    older = PasswordHasher(time_cost=2, memory_cost=64, parallelism=1).hash("pw-123456")

    assert hashers.needs_rehash(current) is False
    assert hashers.needs_rehash(older) is True


async def test_hashing_runs_on_worker_threads_while_the_event_loop_keeps_ticking():
    # Production-like cost: each hash takes tens of milliseconds of CPU.
    hasher = RecordingHasher(time_cost=3, memory_cost=32768, parallelism=1)
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async for hashers in running(PasswordHashers(hasher, size=2)):
        tick = asyncio.create_task(ticker())
        started = time.perf_counter()
        stored = await asyncio.gather(*(hashers.hash(f"password-{i}") for i in range(4)))
        assert await hashers.verify(stored[0], "password-0")
        elapsed = time.perf_counter() - started
        done.set()
        await tick

    assert threading.get_ident() not in hasher.threads
    assert len(hasher.threads) == 2
    # The work was real (it would have frozen the loop for this long) ...
    assert elapsed > 0.1
    # ... yet the loop never stalled for more than a fraction of one hash.
    assert max(gaps) < 0.05, max(gaps)


async def test_hashing_before_the_threads_start_is_a_clear_no_process_error():
    hashers = PasswordHashers(cheap_hasher())

    with pytest.raises(NoProcess, match="not started"):
        await hashers.hash("password")
