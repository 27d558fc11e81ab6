"""Plugs and middlewares: request id, JSON bodies, JWT, permissions, rate limits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from aiohttp import web

from bitnexus.auth import Permission, Role, SigningKey, Tokens
from bitnexus.web.errors import error_middleware, json_response
from bitnexus.web.plugs import (
    Authenticate,
    ParseJson,
    RateLimit,
    RateLimiter,
    access_log_middleware,
    authorize,
    request_id_middleware,
)
from bitnexus.web.request_keys import BODY_KEY, PRINCIPAL_KEY
from bitnexus.web.router import Router

SECRET = "plugs-test-secret-0123456789abcdef-0123"
TOKENS = Tokens(keys=[SigningKey("k1", SECRET)], issuer="t", audience="a", access_ttl=60)


async def echo(request: web.Request) -> web.Response:
    principal = request.get(PRINCIPAL_KEY)
    return json_response(
        {
            "body": request.get(BODY_KEY),
            "user_id": principal.user_id if principal else None,
            "role": principal.role if principal else None,
        }
    )


async def make_client(aiohttp_client: Any, *, max_body: int = 1024, limit: int = 1000) -> Any:
    router = Router()
    router.pipeline("json", ParseJson(max_body=max_body))
    router.pipeline("ip", RateLimit(RateLimiter(limit=limit)))
    router.pipeline(
        "auth", Authenticate(TOKENS), RateLimit(RateLimiter(limit=limit), per_user=True), authorize
    )
    with router.scope("", pipe_through=("json",)) as public:
        public.post("/json", echo)
    with router.scope("", pipe_through=("ip",)) as limited:
        limited.get("/limited", echo)
    with router.scope("", pipe_through=("auth",)) as authed:
        authed.get("/me", echo, permission=Permission.USERS_READ_SELF)
        authed.get("/admin", echo, permission=Permission.USERS_MANAGE)
    app = web.Application(
        middlewares=[request_id_middleware, access_log_middleware, error_middleware]
    )
    router.install(app)
    return await aiohttp_client(app)


@pytest.fixture
async def client(aiohttp_client: Any) -> AsyncIterator[Any]:
    yield await make_client(aiohttp_client)


async def test_a_well_formed_request_id_is_echoed(client: Any) -> None:
    response = await client.post("/json", headers={"x-request-id": "abc-123.DEF_4"})
    assert response.headers["x-request-id"] == "abc-123.DEF_4"


@pytest.mark.parametrize("sent", ["", "has space", "x" * 65, "semi;colon"])
async def test_a_missing_or_malformed_request_id_is_replaced(client: Any, sent: str) -> None:
    response = await client.post("/json", headers={"x-request-id": sent})
    made = response.headers["x-request-id"]
    assert made != sent and len(made) == 16


async def test_errors_carry_the_request_id_too(client: Any) -> None:
    response = await client.get("/nowhere", headers={"x-request-id": "lost-1"})
    assert response.status == 404
    assert response.headers["x-request-id"] == "lost-1"


async def test_every_request_is_logged_once_with_status_and_request_id(
    client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bitnexus.access"):
        await client.post("/json", json={}, headers={"x-request-id": "logged-1"})
    records = [r for r in caplog.records if r.name == "bitnexus.access"]
    assert len(records) == 1
    assert "POST /json 200" in records[0].getMessage()
    assert records[0].request_id == "logged-1"  # type: ignore[attr-defined]


async def test_a_json_object_body_is_parsed(client: Any) -> None:
    response = await client.post("/json", json={"a": [1, 2], "b": None})
    assert (await response.json())["body"] == {"a": [1, 2], "b": None}


async def test_an_empty_body_is_an_empty_object(client: Any) -> None:
    response = await client.post("/json")
    assert (await response.json())["body"] == {}


async def test_a_json_subtype_content_type_is_accepted(client: Any) -> None:
    response = await client.post(
        "/json", data=b'{"x": 1}', headers={"content-type": "application/merge-patch+json"}
    )
    assert (await response.json())["body"] == {"x": 1}


@pytest.mark.parametrize("raw", [b"{", b'{"a": }', b"\xff\xfe", b'"\\ud800"'])
async def test_malformed_json_is_a_400(client: Any, raw: bytes) -> None:
    response = await client.post("/json", data=raw, headers={"content-type": "application/json"})
    assert response.status == 400
    assert (await response.json())["errors"]["detail"].startswith(
        ("malformed JSON", "the body must")
    )


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"42", b"null"])
async def test_a_body_that_is_not_an_object_is_a_400(client: Any, raw: bytes) -> None:
    response = await client.post("/json", data=raw, headers={"content-type": "application/json"})
    assert response.status == 400
    assert await response.json() == {"errors": {"detail": "the body must be a JSON object"}}


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_that_is_not_json_is_a_415(client: Any, content_type: str) -> None:
    response = await client.post("/json", data=b'{"a": 1}', headers={"content-type": content_type})
    assert response.status == 415


async def test_a_body_over_the_limit_is_a_413(client: Any) -> None:
    response = await client.post("/json", json={"pad": "x" * 2000})
    assert response.status == 413
    assert "1024 bytes" in (await response.json())["errors"]["detail"]


async def test_a_chunked_body_over_the_limit_is_a_413(client: Any) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"pad": "'
        for _ in range(20):
            yield b"x" * 100
            await asyncio.sleep(0)
        yield b'"}'

    response = await client.post(
        "/json", data=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status == 413


async def test_a_chunked_body_under_the_limit_is_read_whole(aiohttp_client: Any) -> None:
    client = await make_client(aiohttp_client, max_body=1_000_000)
    payload = {"items": ["x" * 1000] * 200}

    async def chunks() -> AsyncIterator[bytes]:
        raw = orjson.dumps(payload)
        for start in range(0, len(raw), 7000):
            yield raw[start : start + 7000]
            await asyncio.sleep(0.001)

    response = await client.post(
        "/json", data=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status == 200
    assert (await response.json())["body"] == payload


async def test_a_missing_token_is_a_401_with_a_bearer_challenge(client: Any) -> None:
    response = await client.get("/me")
    assert response.status == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert (await response.json())["errors"] == {
        "detail": "authentication required",
        "reason": "missing",
    }


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer a b", "Token abc"])
async def test_an_authorization_header_that_is_not_a_bearer_token_is_a_401(
    client: Any, header: str
) -> None:
    response = await client.get("/me", headers={"Authorization": header})
    assert response.status == 401
    assert (await response.json())["errors"]["reason"] == "invalid"


async def test_a_valid_token_becomes_the_principal_with_an_integer_id(client: Any) -> None:
    token = TOKENS.issue_access("42", Role.AFFILIATE)
    response = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 200
    assert await response.json() == {"body": None, "user_id": 42, "role": "affiliate"}


async def test_a_role_without_the_route_permission_is_a_403(client: Any) -> None:
    token = TOKENS.issue_access("42", Role.USER)
    response = await client.get("/admin", headers={"Authorization": f"Bearer {token}"})
    assert response.status == 403
    admin = TOKENS.issue_access("1", Role.ADMIN)
    assert (await client.get("/admin", headers={"Authorization": f"Bearer {admin}"})).status == 200


def test_the_rate_limiter_allows_the_limit_then_says_how_long_to_wait() -> None:
    limiter = RateLimiter(limit=3, period=60.0)
    assert [limiter.hit("k", now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.hit("k", now=100.0) == pytest.approx(20.0)
    assert limiter.hit("other", now=100.0) == 0.0
    assert limiter.hit("k", now=120.0) == 0.0


def test_the_rate_limiter_forgets_full_buckets_when_it_holds_too_many_keys() -> None:
    limiter = RateLimiter(limit=2, period=1.0, max_keys=2)
    limiter.hit("a", now=0.0)
    limiter.hit("b", now=0.0)
    limiter.hit("c", now=10.0)  # a and b refilled long ago: dropped
    assert limiter.hit("c", now=10.0) == 0.0
    assert limiter.hit("c", now=10.0) > 0


async def test_past_the_limit_the_answer_is_429_with_retry_after(aiohttp_client: Any) -> None:
    client = await make_client(aiohttp_client, limit=2)
    assert [(await client.get("/limited")).status for _ in range(2)] == [200, 200]
    response = await client.get("/limited")
    assert response.status == 429
    assert int(response.headers["retry-after"]) >= 1
    assert (await response.json())["errors"]["detail"] == "rate limit exceeded"


async def test_users_are_limited_separately(aiohttp_client: Any) -> None:
    client = await make_client(aiohttp_client, limit=1)
    ada = {"Authorization": f"Bearer {TOKENS.issue_access('1', Role.USER)}"}
    bob = {"Authorization": f"Bearer {TOKENS.issue_access('2', Role.USER)}"}
    assert (await client.get("/me", headers=ada)).status == 200
    assert (await client.get("/me", headers=ada)).status == 429
    assert (await client.get("/me", headers=bob)).status == 200
