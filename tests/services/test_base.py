from __future__ import annotations

import asyncio

from bitnexus.actors import Node
from bitnexus.repo.database import Database
from bitnexus.services import DatabaseService, ServicePool
from bitnexus.supervision import Application


class Probe(DatabaseService):
    operations = ("probe",)

    async def probe(self) -> tuple[bool, int]:
        # What asyncpg does when the pool opens a connection: needs a task.
        async with asyncio.timeout(5):
            async with self.db.acquire() as conn:
                value = await conn.fetchval("SELECT 41 + 1")
        return asyncio.current_task() is not None, value


async def test_operations_run_inside_a_task_so_the_pool_may_open_connections(
    database: Database,
):
    calls = []
    pool = ServicePool("test.probe", lambda: Probe(lambda: calls.append(1) or database), size=4)
    node = Node()
    async with Application([pool.child_spec()], node=node, name="test.probe.app"):
        results = await asyncio.gather(*(pool.call("probe") for _ in range(12)))
    await node.shutdown(timeout=1.0)

    assert results == [(True, 42)] * 12
    assert len(calls) == 12  # the database function is asked on every operation


async def test_a_service_takes_a_database_directly_too(database: Database):
    assert Probe(database).db is database
    assert await Probe(database).probe() == (True, 42)
