from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from prometheus_client.parser import text_string_to_metric_families

from bitnexus.admin.api import ADMIN_KEY
from bitnexus.channels.protocol import Broadcast

from .support import BLOCKER, COUNTER, admin_server, wait_until

FAMILIES = {
    "bitnexus_processes": "gauge",  # by kind
    "bitnexus_mailbox_length": "histogram",
    "bitnexus_messages_handled": "counter",
    "bitnexus_messages_per_second": "gauge",
    "bitnexus_restarts": "counter",
    "bitnexus_channels_joined": "gauge",
    "bitnexus_connections": "gauge",
    "bitnexus_http_requests": "counter",  # by method, route, status
    "bitnexus_http_request_duration_seconds": "histogram",
    "bitnexus_pubsub_broadcasts": "counter",
}


def parse(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def value(family: Any, suffix: str = "", **labels: str) -> float:
    for sample in family.samples:
        if sample.name == family.name + suffix and all(
            sample.labels.get(k) == v for k, v in labels.items()
        ):
            return float(sample.value)
    raise AssertionError(f"no sample {family.name}{suffix} {labels}")


async def test_metrics_expose_every_family_the_issue_lists() -> None:
    async with admin_server() as server:
        await server.get("/admin/api/tree")
        await server.get("/admin/api/tree", role="user")
        old = server.pid_of(COUNTER)
        await server.post(f"/admin/api/processes/{quote(str(old))}/kill")
        pubsub = server.app[ADMIN_KEY].pubsub
        pubsub.subscribe(server.pid_of(BLOCKER), "room:1")
        pubsub.broadcast("room:1", Broadcast("room:1", "new_msg", {}))
        for _ in range(30):
            server.pid_of(COUNTER).cast("tick")
        # Two samples apart so messages/s covers the ticks.
        await asyncio.sleep(0.5)
        async with server.session.get(server.url + "/metrics") as resp:
            assert resp.status == 200
            assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
            families = parse(await resp.text())
    for name, kind in FAMILIES.items():
        assert name in families, name
        assert families[name].type == kind, name
    assert value(families["bitnexus_processes"], kind="supervisor") == 4
    assert value(families["bitnexus_processes"], kind="worker") == 3
    assert value(families["bitnexus_restarts"], "_total") == 1
    assert value(families["bitnexus_pubsub_broadcasts"], "_total") == 1
    assert value(families["bitnexus_channels_joined"]) == 0
    assert value(families["bitnexus_mailbox_length"], "_count") == value(
        families["bitnexus_mailbox_length"], "_bucket", le="+Inf"
    )
    requests = families["bitnexus_http_requests"]
    assert value(requests, "_total", route="/admin/api/tree", status="200", method="GET") == 1
    assert value(requests, "_total", route="/admin/api/tree", status="403", method="GET") == 1
    kill_route = "/admin/api/processes/{pid}/kill"
    assert value(requests, "_total", route=kill_route, status="200") == 1
    latency = families["bitnexus_http_request_duration_seconds"]
    assert value(latency, "_count", route="/admin/api/tree", method="GET") == 2
    assert value(families["bitnexus_messages_per_second"]) > 0
    assert value(families["bitnexus_messages_handled"], "_total") >= 30


async def test_messages_handled_never_goes_down_when_processes_die() -> None:
    async with admin_server() as server:
        for _ in range(20):
            server.pid_of(COUNTER).cast("tick")
        await asyncio.sleep(0.01)

        async def handled() -> float:
            async with server.session.get(server.url + "/metrics") as resp:
                families = parse(await resp.text())
            return value(families["bitnexus_messages_handled"], "_total")

        before = await handled()
        old = server.pid_of(COUNTER)
        server.node.exit(old, "kill")
        await wait_until(lambda: server.node.whereis(COUNTER) not in (None, old))
        assert await handled() >= before
