"""The platform socket at /socket, end to end: a real server from
``build_server`` on a fresh database, real WebSockets, the real services."""

from __future__ import annotations

import base64
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from bitnexus.auth import Role, SigningKey, Tokens
from bitnexus.config import load_settings
from bitnexus.platform import Platform
from bitnexus.repo import User
from bitnexus.repo.testing import PostgresTestServer, make_product, make_user
from bitnexus.server import build_server
from bitnexus.web.keys import PLATFORM_KEY

PASSWORD = "correct horse"


@dataclass
class Server:
    url: str
    platform: Platform

    def ws_url(self, query: str = "") -> str:
        base = self.url.replace("http://", "ws://") + "/socket/websocket?vsn=2.0.0"
        return base + (f"&{query}" if query else "")

    def token(self, user: User, **kwargs: Any) -> str:
        return self.platform.tokens.issue_access(str(user.id), user.role, **kwargs)


@pytest.fixture
async def server(postgres_server: PostgresTestServer) -> AsyncIterator[Server]:
    async with postgres_server.database_dsn() as dsn:
        settings = load_settings("test", environ={}).override(
            {
                "database.url": dsn,
                "database.pool_min": 1,
                "database.pool_max": 4,
                "demo.enabled": False,
                "server.shutdown_timeout": 2.0,
            }
        )
        app = build_server(settings)
        runner = web.AppRunner(app, shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            yield Server(f"http://127.0.0.1:{port}", app[PLATFORM_KEY])
        finally:
            await runner.cleanup()


class Client:
    """A minimal Phoenix V2 client over an aiohttp WebSocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._refs = itertools.count(1)

    async def send(self, topic: str, event: str, payload: Any, join_ref: str | None = None) -> str:
        ref = str(next(self._refs))
        await self.ws.send_str(orjson.dumps([join_ref, ref, topic, event, payload]).decode())
        return ref

    async def recv(self, timeout: float = 3.0) -> list[Any]:
        msg = await self.ws.receive(timeout=timeout)
        assert msg.type is aiohttp.WSMsgType.TEXT, (msg.type, msg.data, self.ws.close_code)
        frame: list[Any] = orjson.loads(msg.data)
        return frame

    async def recv_until(self, match: Callable[[list[Any]], bool], timeout: float = 3.0) -> list:
        while True:
            frame = await self.recv(timeout)
            if match(frame):
                return frame

    async def join(self, topic: str) -> tuple[str, Any]:
        """Join ``topic``; returns the reply's status and response."""
        ref = await self.send(topic, "phx_join", {}, join_ref=f"j{topic}")
        reply = await self.recv_until(lambda f: f[1] == ref and f[3] == "phx_reply")
        return reply[4]["status"], reply[4]["response"]

    async def push_on(self, topic: str, event: str) -> dict[str, Any]:
        """Wait for ``event`` on ``topic``; returns its payload."""
        frame = await self.recv_until(lambda f: f[2] == topic and f[3] == event)
        return dict(frame[4])


@contextlib.asynccontextmanager
async def connected(url: str, **kwargs: Any) -> AsyncIterator[Client]:
    async with aiohttp.ClientSession() as session, session.ws_connect(url, **kwargs) as ws:
        yield Client(ws)


async def refused_status(url: str, **kwargs: Any) -> int | None:
    """The HTTP status of a refused connect, or None if it was accepted."""
    try:
        async with connected(url, **kwargs):
            return None
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status


async def purchase(server: Server, user: User, product_id: int) -> int:
    result = await server.platform.transactions.call(
        "purchase", user_id=user.id, product_id=product_id
    )
    assert result.transaction.status == "completed"
    return int(result.transaction.id)


# What each role may join. "own": the principal's own transaction;
# "referred": a transaction of a user whose referrer is the principal;
# "other": a transaction of a user unrelated to the principal; "missing": an id
# no transaction has; "notification self/other": the principal's own
# notification topic and another user's.
TOPICS = ("own", "referred", "other", "missing", "notification self", "notification other")
EXPECTED = {
    "admin": {
        "own": "ok",
        "referred": "ok",
        "other": "ok",
        "missing": "error",
        "notification self": "ok",
        "notification other": "error",
    },
    "affiliate": {
        "own": "ok",
        "referred": "ok",
        "other": "error",
        "missing": "error",
        "notification self": "ok",
        "notification other": "error",
    },
    "user": {
        "own": "ok",
        "referred": "error",
        "other": "error",
        "missing": "error",
        "notification self": "ok",
        "notification other": "error",
    },
}


async def test_every_role_joins_exactly_the_topics_the_rules_allow(server: Server):
    db = server.platform.db
    product = await make_product(db, price_minor=1_00)
    outsider = await make_user(db, balance_minor=10_00)
    other_tx = await purchase(server, outsider, product.id)
    actual: dict[str, dict[str, str]] = {}
    for role in EXPECTED:
        me = await make_user(db, role=role, balance_minor=10_00)
        referee = await make_user(db, balance_minor=10_00, referred_by=me.id)
        topics = {
            "own": f"transaction:{await purchase(server, me, product.id)}",
            "referred": f"transaction:{await purchase(server, referee, product.id)}",
            "other": f"transaction:{other_tx}",
            "missing": "transaction:987654321",
            "notification self": f"notification:{me.id}",
            "notification other": f"notification:{outsider.id}",
        }
        actual[role] = {}
        async with connected(server.ws_url(f"token={server.token(me)}")) as client:
            for name in TOPICS:
                status, response = await client.join(topics[name])
                actual[role][name] = status
                if status == "error":
                    assert response == {"reason": "unauthorized"}, (role, name)
                elif name in ("own", "referred", "other"):
                    assert f"transaction:{response['transaction']['id']}" == topics[name]
                    assert response["transaction"]["status"] == "completed"

    assert actual == EXPECTED


async def test_malformed_topic_ids_are_refused_like_missing_ones(server: Server):
    me = await make_user(server.platform.db, role="admin")
    async with connected(server.ws_url(f"token={server.token(me)}")) as client:
        bad = ("transaction:", "transaction:abc", "transaction:01", "transaction:-1",
               "transaction:99999999999999999999", f"notification:0{me.id}")  # fmt: skip
        for topic in bad:
            assert await client.join(topic) == ("error", {"reason": "unauthorized"}), topic


@pytest.mark.parametrize(
    "token",
    ["none", "garbage", "expired", "other key", "tampered role"],
)
async def test_a_bad_missing_or_expired_token_is_refused_with_403(server: Server, token: str):
    me = await make_user(server.platform.db)
    good = server.token(me)
    stranger_tokens = Tokens(
        keys=[SigningKey("k1", b"s" * 32)],
        issuer=server.platform.tokens.issuer,
        audience=server.platform.tokens.audience,
        access_ttl=900,
    )
    header, payload, signature = good.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "admin"
    forged = base64.urlsafe_b64encode(orjson.dumps(claims)).decode().rstrip("=")
    query = {
        "none": "",
        "garbage": "token=not.a.jwt",
        "expired": f"token={server.token(me, now=time.time() - 3600)}",
        "other key": f"token={stranger_tokens.issue_access(str(me.id), Role.USER)}",
        "tampered role": f"token={header}.{forged}.{signature}",
    }[token]

    assert await refused_status(server.ws_url(query)) == 403


async def test_the_token_may_come_in_the_auth_token_subprotocol(server: Server):
    me = await make_user(server.platform.db)
    encoded = base64.b64encode(server.token(me).encode()).decode().rstrip("=")

    async with connected(
        server.ws_url(), protocols=("phoenix", f"base64url.bearer.phx.{encoded}")
    ) as client:
        assert client.ws.protocol == "phoenix"
        assert await client.join(f"notification:{me.id}") == ("ok", {})

    bad = base64.b64encode(b"not.a.jwt").decode().rstrip("=")
    assert (
        await refused_status(server.ws_url(), protocols=("phoenix", f"base64url.bearer.phx.{bad}"))
        == 403
    )


async def test_a_purchase_and_its_refund_reach_the_buyer_and_the_affiliate_live(server: Server):
    db = server.platform.db
    affiliate = await make_user(db, role="affiliate")
    buyer = await make_user(db, balance_minor=10_00, referred_by=affiliate.id)
    product = await make_product(db, price_minor=4_00)
    buyer_url = server.ws_url(f"token={server.token(buyer)}")
    affiliate_url = server.ws_url(f"token={server.token(affiliate)}")
    async with connected(buyer_url) as mine, connected(affiliate_url) as theirs:
        assert (await mine.join(f"notification:{buyer.id}"))[0] == "ok"
        assert (await theirs.join(f"notification:{affiliate.id}"))[0] == "ok"

        tx_id = await purchase(server, buyer, product.id)

        bought = await mine.push_on(f"notification:{buyer.id}", "transaction")
        assert (bought["id"], bought["status"], bought["amount"]) == (
            tx_id, "completed", {"amount_minor": 4_00, "currency": "USD"},
        )  # fmt: skip
        earned = await theirs.push_on(f"notification:{affiliate.id}", "commission")
        assert (earned["transaction_id"], earned["amount"]["amount_minor"]) == (tx_id, 40)

        # Both follow the transaction, then an admin refunds it.
        topic = f"transaction:{tx_id}"
        for client in (mine, theirs):
            status, response = await client.join(topic)
            assert (status, response["transaction"]["status"]) == ("ok", "completed")
        await server.platform.transactions.call("refund", transaction_id=tx_id)

        for client in (mine, theirs):
            change = await client.push_on(topic, "status")
            assert (change["id"], change["status"], change["previous"]) == (
                tx_id, "refunded", "completed",
            )  # fmt: skip
        assert (await mine.push_on(f"notification:{buyer.id}", "transaction"))["status"] == (
            "refunded"
        )
        reversed_ = await theirs.push_on(f"notification:{affiliate.id}", "commission")
        assert reversed_["reversed_at"] is not None


async def test_logging_out_closes_the_users_open_sockets(server: Server):
    accounts = server.platform.accounts
    user = await accounts.call("register", email="bo@example.com", password=PASSWORD)
    pair = await accounts.call("login", email="bo@example.com", password=PASSWORD)

    async with connected(server.ws_url(f"token={pair.access_token}")) as client:
        assert (await client.join(f"notification:{user.id}"))[0] == "ok"
        await accounts.call("logout", refresh_token=pair.refresh_token)
        msg = await client.ws.receive(timeout=3.0)
        while msg.type is aiohttp.WSMsgType.TEXT:
            msg = await client.ws.receive(timeout=3.0)

    assert (msg.type, msg.data) == (aiohttp.WSMsgType.CLOSE, 1001)


async def test_a_client_push_on_a_platform_topic_gets_an_error_reply(server: Server):
    me = await make_user(server.platform.db)
    topic = f"notification:{me.id}"
    async with connected(server.ws_url(f"token={server.token(me)}")) as client:
        assert (await client.join(topic))[0] == "ok"
        ref = await client.send(topic, "shout", {"hi": 1}, join_ref=f"j{topic}")
        reply = await client.recv_until(lambda f: f[1] == ref)

    assert reply[3:] == [
        "phx_reply",
        {"status": "error", "response": {"reason": "unknown event 'shout'"}},
    ]
