"""Shared helpers for the HTTP API tests: a real server on 127.0.0.1, real PostgreSQL.

Not a conftest (other engineers add files under tests/web): test modules
import what they need. A server is ``build_server`` on a fresh, migrated
database from the session's ``postgres_server``, listening on a free port.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import ClientSession, ClientTimeout, web

from bitnexus.config import load_settings
from bitnexus.platform import Platform
from bitnexus.repo import queries
from bitnexus.repo.testing import PostgresTestServer, make_product
from bitnexus.server import build_server
from bitnexus.web.keys import PLATFORM_KEY

__all__ = [
    "PASSWORD",
    "Account",
    "Api",
    "Reply",
    "conforms",
    "running_api",
]

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Reply:
    """What the server answered."""

    status: int
    body: Any
    headers: Mapping[str, str]

    @property
    def data(self) -> Any:
        assert isinstance(self.body, dict) and "data" in self.body, (self.status, self.body)
        return self.body["data"]

    @property
    def errors(self) -> Any:
        assert isinstance(self.body, dict) and set(self.body) == {"errors"}, (
            self.status,
            self.body,
        )
        return self.body["errors"]


@dataclass(frozen=True)
class Account:
    """A registered, logged-in user."""

    id: int
    email: str
    role: str
    token: str
    refresh_token: str
    password: str = PASSWORD


class Api:
    """A running server and a client for it."""

    def __init__(self, session: ClientSession, base: str, app: Any, dsn: str) -> None:
        self.session = session
        self.base = base
        self.app = app
        self.dsn = dsn

    @property
    def platform(self) -> Platform:
        return self.app[PLATFORM_KEY]

    async def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send one request to ``/api/v1`` + ``path`` (or ``path`` when absolute)."""
        url = self.base + path if path.startswith("/") else f"{self.base}/api/v1/{path}"
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        if json is not None:
            data = orjson.dumps(json)
            sent.setdefault("Content-Type", "application/json")
        async with self.session.request(method, url, data=data, headers=sent) as response:
            raw = await response.read()
            body: Any = None
            if raw:
                try:
                    body = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    body = raw.decode(errors="replace")
            return Reply(response.status, body, response.headers.copy())

    async def account(
        self,
        role: str = "user",
        *,
        balance_minor: int = 0,
        referred_by: int | None = None,
    ) -> Account:
        """Register through the API, set role/balance in the database, log in through the API."""
        email = f"{role}-{secrets.token_hex(5)}@example.test"
        reply = await self.request(
            "POST",
            "auth/register",
            json={"email": email, "password": PASSWORD, "referred_by": referred_by},
        )
        assert reply.status == 201, reply
        user_id = reply.data["id"]
        db = self.platform.db
        if role != "user":
            await queries.update_user(db, user_id, role=role)
        if balance_minor:
            await queries.credit(db, user_id, balance_minor)
        login = await self.request(
            "POST", "auth/login", json={"email": email, "password": PASSWORD}
        )
        assert login.status == 200, login
        return Account(
            user_id, email, role, login.data["access_token"], login.data["refresh_token"]
        )

    async def product(self, *, price_minor: int = 10_00, currency: str = "USD", **kw: Any) -> int:
        """A product created straight in the database; its id."""
        product = await make_product(
            self.platform.db, price_minor=price_minor, currency=currency, **kw
        )
        return product.id


@contextlib.asynccontextmanager
async def running_api(
    postgres_server: PostgresTestServer, overrides: Mapping[str, Any] | None = None
) -> AsyncIterator[Api]:
    """``build_server`` on a fresh database, listening on 127.0.0.1 (a free port)."""
    async with postgres_server.database_dsn() as dsn:
        settings = load_settings("test", environ={}).override(
            {
                "database.url": dsn,
                "database.pool_max": 8,
                "demo.enabled": False,
                "server.host": "127.0.0.1",
                "server.port": 0,
                # Tests make many requests from one address; the rate-limit
                # tests lower these again.
                "http.rate_limit_per_ip": 1_000_000,
                "http.rate_limit_per_user": 1_000_000,
                **(overrides or {}),
            }
        )
        app = build_server(settings)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=5.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            async with ClientSession(timeout=ClientTimeout(total=30)) as session:
                yield Api(session, f"http://127.0.0.1:{port}", app, dsn)
        finally:
            await runner.cleanup()


def conforms(value: Any, schema: Mapping[str, Any], components: Mapping[str, Any]) -> list[str]:
    """Where ``value`` breaks ``schema`` (``$ref``, type, required, properties,
    additionalProperties, items, enum); empty when it conforms."""
    problems: list[str] = []
    _conforms(value, schema, components, "$", problems)
    return problems


_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}


def _is(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, _TYPES[kind])


def _conforms(
    value: Any, schema: Mapping[str, Any], components: Mapping[str, Any], at: str, out: list[str]
) -> None:
    if "$ref" in schema:
        name = schema["$ref"].rpartition("/")[2]
        _conforms(value, components[name], components, at, out)
        return
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not any(_is(value, kind) for kind in kinds):
            out.append(f"{at}: {value!r:.60} is not {kinds}")
            return
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{at}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", ()):
            if name not in value:
                out.append(f"{at}: missing {name}")
        for name, item in value.items():
            if name in properties:
                _conforms(item, properties[name], components, f"{at}.{name}", out)
            elif schema.get("additionalProperties", True) is False:
                out.append(f"{at}: undocumented field {name}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            _conforms(item, schema["items"], components, f"{at}[{index}]", out)
