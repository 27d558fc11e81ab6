from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar
from urllib.parse import quote

import pytest

from bitnexus.actors import Actor
from bitnexus.auth import SigningKey, Tokens
from bitnexus.supervision import Supervisor

from .support import (
    BLOCKER,
    COUNTER,
    SPARE,
    WORKERS,
    AdminServer,
    Watcher,
    admin_server,
    wait_until,
)

TREE = "/admin/api/tree"


def proc_path(pid: Any, action: str = "") -> str:
    return f"/admin/api/processes/{quote(str(pid))}" + (f"/{action}" if action else "")


@pytest.fixture
async def server() -> AsyncIterator[AdminServer]:
    async with admin_server() as s:
        yield s


def row(page: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [p for p in page["processes"] if p["name"] == name]
    return found


# -- the tree -----------------------------------------------------------------------------
async def test_tree_returns_the_supervision_tree_as_json(server: AdminServer) -> None:
    status, page = await server.get(TREE)
    assert status == 200
    assert page["total"] == page["matched"] == len(server.node)
    root = row(page, "bitnexus")
    assert page["roots"] == [root["pid"]]
    workers = row(page, WORKERS)
    assert workers["parent"] == root["pid"]
    assert (workers["kind"], workers["strategy"]) == ("supervisor", "one_for_one")
    counter = row(page, COUNTER)
    assert counter["pid"] in workers["children"]
    assert counter["kind"] == "worker"
    assert {"mailbox_len", "handled", "rate", "restarts", "uptime", "memory_estimate"} <= set(
        counter
    )
    assert counter["status"] in ("running", "waiting")
    assert row(page, "bitnexus.admin.sampler")["kind"] == "service"


async def test_tree_filters_by_kind_name_parent_and_topic(server: AdminServer) -> None:
    _, sups = await server.get(f"{TREE}?kind=supervisor")
    assert {p["name"] for p in sups["processes"]} == {
        "bitnexus",
        "bitnexus.channels",
        "bitnexus.connections",
        WORKERS,
    }
    _, named = await server.get(f"{TREE}?name=admin_test.")
    assert {p["name"] for p in named["processes"]} == {WORKERS, COUNTER, SPARE, BLOCKER}
    workers = server.pid_of(WORKERS)
    _, kids = await server.get(f"{TREE}?parent={quote(str(workers))}")
    assert {p["name"] for p in kids["processes"]} == {COUNTER, SPARE, BLOCKER}
    _, roots = await server.get(f"{TREE}?parent=root")
    assert [p["name"] for p in roots["processes"]] == ["bitnexus"]
    channels = server.pid_of("bitnexus.channels")
    for topic in ("room:1", "room:1", "room:2"):
        server.node.spawn(ChannelLike, topic, parent=channels)
    await asyncio.sleep(0.01)
    _, on_topic = await server.get(f"{TREE}?topic={quote('room:1')}")
    assert on_topic["matched"] == 2
    assert {p["kind"] for p in on_topic["processes"]} == {"channel"}


async def test_tree_rejects_bad_paging_and_sort_values(server: AdminServer) -> None:
    for query, field in (("limit=abc", "limit"), ("offset=-1", "offset"), ("sort=x", "sort")):
        status, body = await server.get(f"{TREE}?{query}")
        assert status == 422, query
        assert field in body["errors"]
    status, body = await server.get(f"{TREE}?limit=5000000")
    assert status == 200
    assert body["limit"] == 1000


class ChannelLike(Actor):
    kind: ClassVar[str] = "channel"

    def __init__(self, topic: str) -> None:
        self.topic = topic

    async def init(self) -> Any:
        self.set_label(("channel", self.topic))
        return None


@pytest.mark.slow
async def test_a_node_with_50000_channels_answers_a_bounded_page(server: AdminServer) -> None:
    channels = server.pid_of("bitnexus.channels")
    for i in range(50_000):
        server.node.spawn(ChannelLike, f"room:{i % 500}", parent=channels)
        if i % 5000 == 0:
            await asyncio.sleep(0)
    await wait_until(lambda: len(server.node) > 50_000, timeout=10)
    await asyncio.sleep(0.1)
    async with server.session.get(
        server.url + f"{TREE}?kind=channel&limit=100000", headers=server.auth()
    ) as resp:
        assert resp.status == 200
        raw = await resp.read()
        page = await resp.json()
    assert page["matched"] == 50_000
    assert len(page["processes"]) == 1000
    assert len(raw) < 1_500_000
    async with server.session.get(server.url + TREE, headers=server.auth()) as resp:
        raw = await resp.read()
        page = await resp.json()
    assert len(page["processes"]) == 200
    assert len(raw) < 400_000
    sup = row(page, "bitnexus.channels")
    assert sup["children_count"] == 50_000
    assert len(sup["children"]) == 50
    _, one_topic = await server.get(f"{TREE}?topic=room:7&limit=10")
    assert one_topic["matched"] == 100
    assert len(one_topic["processes"]) == 10


# -- one process ---------------------------------------------------------------------------
async def test_detail_shows_links_monitors_and_a_redacted_mailbox_head(
    server: AdminServer,
) -> None:
    blocker = server.pid_of(BLOCKER)
    counter = server.pid_of(COUNTER)
    watcher = server.node.spawn(Watcher, counter, blocker)
    await asyncio.sleep(0.01)
    status, detail = await server.get(proc_path(watcher))
    assert status == 200
    assert detail["links"] == [str(counter)]
    assert detail["monitors"] == [str(blocker)]
    assert detail["trap_exit"] is True
    _, watched = await server.get(proc_path(blocker))
    assert watched["monitored_by"] == [str(watcher)]
    assert watched["names"] == [BLOCKER]

    blocker.cast("block")
    blocker.send({"email": "ada@example.com", "password": "hunter2"})
    blocker.send("reset my password to hunter2")
    blocker.send(("job", 1))
    await asyncio.sleep(0.01)
    async with server.session.get(server.url + proc_path(blocker), headers=server.auth()) as resp:
        text = await resp.text()
    assert "hunter2" not in text
    _, detail = await server.get(proc_path(blocker))
    assert detail["mailbox_len"] == 3
    assert detail["mailbox_head"] == [
        {"kind": "info", "message": {"email": "ada@example.com", "password": "[REDACTED]"}},
        {"kind": "info", "message": "[REDACTED]"},
        {"kind": "info", "message": ["job", 1]},
    ]
    blocker._proc.actor.gate.set()  # type: ignore[union-attr]


async def test_detail_shows_the_restart_history_after_a_crash(server: AdminServer) -> None:
    first = server.pid_of(COUNTER)
    first.cast("crash")
    await wait_until(lambda: server.node.whereis(COUNTER) not in (None, first))
    _, detail = await server.get(proc_path(server.pid_of(COUNTER)))
    assert detail["restarts"] == 1
    history = detail["history"]
    assert history["restart_count"] == 1
    assert history["restarts"][0]["pid"] == str(first)
    assert "RuntimeError: boom: crashed on purpose" in history["last_crash"]["traceback"]
    assert detail["restartable"] is True
    assert detail["child_id"] == COUNTER


async def test_detail_of_a_supervisor_lists_its_child_specs(server: AdminServer) -> None:
    await Supervisor.terminate_child(server.pid_of(WORKERS), SPARE)
    _, detail = await server.get(proc_path(server.pid_of(WORKERS)))
    specs = {s["id"]: s for s in detail["child_specs"]}
    assert set(specs) == {COUNTER, SPARE, BLOCKER}
    assert specs[SPARE]["running"] is False
    assert specs[COUNTER]["pid"] == str(server.pid_of(COUNTER))


async def test_detail_of_a_channel_and_its_connection_name_topic_socket_and_peer(
    server: AdminServer,
) -> None:
    ws_url = server.url.replace("http", "ws") + "/demo/socket/websocket?vsn=2.0.0&user_id=7"
    async with server.session.ws_connect(ws_url) as ws:
        await ws.send_str('["1","1","room:lobby","phx_join",{}]')
        reply = await ws.receive_json(timeout=2)
        assert reply[3:] == ["phx_reply", {"status": "ok", "response": {}}]
        _, page = await server.get(f"{TREE}?topic=room:lobby")
        [channel] = page["processes"]
        assert channel["kind"] == "channel"
        _, detail = await server.get(proc_path(channel["pid"]))
        assert detail["channel"]["topic"] == "room:lobby"
        assert detail["channel"]["socket_id"] == "demo_socket:7"
        assert detail["channel"]["transport"] == "websocket"
        connection = detail["channel"]["connection"]
        _, conns = await server.get(f"{TREE}?kind=connection")
        assert [c["pid"] for c in conns["processes"]] == [connection]
        _, conn = await server.get(proc_path(connection))
        assert conn["connection"]["transport"] == "websocket"
        assert conn["connection"]["peer"] == "127.0.0.1"
        assert conn["connection"]["socket_id"] == "demo_socket:7"
        assert channel["pid"] in conn["monitored_by"]


async def test_detail_of_a_dead_or_unknown_pid_is_404(server: AdminServer) -> None:
    pid = server.node.spawn(ChannelLike, "x")
    await server.node.stop(pid)
    assert (await server.get(proc_path(pid)))[0] == 404
    assert (await server.get(proc_path("not-a-pid")))[0] == 404


# -- actions -------------------------------------------------------------------------------------
async def test_kill_is_followed_by_a_restart_visible_in_the_tree_at_once(
    server: AdminServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bitnexus.admin")
    old = server.pid_of(COUNTER)
    _, before = await server.get(f"{TREE}?name={COUNTER}")
    status, result = await server.post(proc_path(old, "kill"))
    assert status == 200
    assert result["exited"] is True
    assert result["exit_reason"] == "killed"
    new = result["replacement"]
    assert new not in (None, str(old))
    _, after = await server.get(f"{TREE}?name={COUNTER}")
    [view] = after["processes"]
    assert view["pid"] == new
    assert view["restarts"] == before["processes"][0]["restarts"] + 1
    [record] = [r for r in caplog.records if getattr(r, "action", None) == "kill"]
    assert record.user_id == 1
    assert record.target == str(old)
    assert record.status == 200
    assert "by user 1" in record.getMessage()


async def test_exit_with_a_reason(server: AdminServer) -> None:
    old = server.pid_of(COUNTER)
    status, result = await server.post(proc_path(old, "exit"), {"reason": "maintenance"})
    assert status == 200
    assert (result["exit_reason"], result["reason"]) == ("maintenance", "maintenance")
    await wait_until(lambda: server.node.whereis(COUNTER) not in (None, old))
    _, detail = await server.get(proc_path(server.pid_of(COUNTER)))
    assert detail["history"]["last_crash"]["reason"] == "'maintenance'"
    status, result = await server.post(
        proc_path(server.pid_of(SPARE), "exit"), {"reason": ["shutdown", "drain"]}
    )
    assert result["exit_reason"] == "('shutdown', 'drain')"
    assert result["replacement"] is None  # transient child, normal exit: stays down
    status, body = await server.post(proc_path(server.pid_of(COUNTER), "exit"), {"reason": 3})
    assert status == 422
    assert body["errors"]["field"] == "reason"


async def test_restart_child_starts_a_terminated_child_again(server: AdminServer) -> None:
    workers = server.pid_of(WORKERS)
    await Supervisor.terminate_child(workers, SPARE)
    assert server.node.whereis(SPARE) is None
    path = f"/admin/api/supervisors/{quote(str(workers))}/restart-child"
    status, result = await server.post(path, {"id": SPARE})
    assert status == 200
    assert result["pid"] == str(server.pid_of(SPARE))
    _, page = await server.get(f"{TREE}?name={SPARE}")
    assert page["processes"][0]["pid"] == result["pid"]
    status, body = await server.post(path, {"id": SPARE})
    assert status == 409
    assert "running" in body["errors"]["detail"]
    old = server.pid_of(SPARE)
    status, result = await server.post(path, {"id": SPARE, "force": True})
    assert status == 200
    assert result["pid"] != str(old)
    assert (await server.post(path, {"id": "nope"}))[0] == 404
    assert (await server.post(path, {}))[0] == 422
    channels = server.pid_of("bitnexus.channels")
    dynamic = f"/admin/api/supervisors/{quote(str(channels))}/restart-child"
    assert (await server.post(dynamic, {"id": "x"}))[0] == 422


# -- access ---------------------------------------------------------------------------------
ROUTES = [
    ("GET", TREE),
    ("GET", "/admin/api/processes/1"),
    ("POST", "/admin/api/processes/1/kill"),
    ("POST", "/admin/api/processes/1/exit"),
    ("POST", "/admin/api/supervisors/1/restart-child"),
]


async def test_every_admin_route_needs_a_token(server: AdminServer) -> None:
    for method, path in ROUTES:
        async with server.session.request(method, server.url + path) as resp:
            assert resp.status == 401, path
            assert (await resp.json())["errors"]["reason"] == "missing"


async def test_a_user_token_is_refused_with_403_and_logged(
    server: AdminServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bitnexus.admin")
    counter = server.pid_of(COUNTER)
    for role in ("user", "affiliate"):
        for method, path in ROUTES:
            path = path.replace("/1", "/" + quote(str(counter)))
            async with server.session.request(
                method, server.url + path, headers=server.auth(role, "7")
            ) as resp:
                assert resp.status == 403, (role, path)
    assert server.node.whereis(COUNTER) == counter  # nothing was killed
    refused = [r for r in caplog.records if r.name == "bitnexus.admin" and r.status == 403]
    assert len(refused) == 2 * len(ROUTES)
    assert {(r.user_id, r.role) for r in refused} == {(7, "user"), (7, "affiliate")}
    assert all(r.levelno == logging.WARNING for r in refused)


async def test_an_admin_token_is_accepted_and_a_foreign_one_is_not(server: AdminServer) -> None:
    assert (await server.get(TREE, role="admin"))[0] == 200
    foreign = Tokens(
        keys=[SigningKey("k1", b"another-secret-" * 4, "HS256")],
        issuer="bitnexus",
        audience="bitnexus-api",
        access_ttl=900,
    ).issue_access("1", "admin")
    async with server.session.get(
        server.url + TREE, headers={"Authorization": f"Bearer {foreign}"}
    ) as resp:
        assert resp.status == 401
    expired = server.tokens.issue_access("1", "admin", now=time.time() - 3600)
    async with server.session.get(
        server.url + TREE, headers={"Authorization": f"Bearer {expired}"}
    ) as resp:
        assert resp.status == 401
        assert (await resp.json())["errors"]["reason"] == "expired"


async def test_the_page_is_served_with_a_strict_content_security_policy(
    server: AdminServer,
) -> None:
    async with server.session.get(server.url + "/admin") as resp:
        assert resp.status == 200
        assert resp.content_type == "text/html"
        csp = resp.headers["content-security-policy"]
        html = await resp.text()
    assert "script-src 'sha256-" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "BitNexus observer" in html


async def test_with_the_admin_disabled_only_metrics_remain() -> None:
    async with admin_server(**{"admin.enabled": False}) as server:
        for path in ("/admin", TREE):
            async with server.session.get(server.url + path, headers=server.auth()) as resp:
                assert resp.status == 404, path
        async with server.session.get(server.url + "/metrics") as resp:
            assert resp.status == 200
