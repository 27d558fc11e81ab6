"""Forged, expired and misdirected JWTs are refused over HTTP with a 401.

Each attack aims at an admin-only route with an admin role claim, and a
control request shows the genuine token of the same account works.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import orjson
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bitnexus.platform import tokens_from_settings
from bitnexus.repo.testing import PostgresTestServer

from .api_support import Account, Api, running_api

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN_ONLY = "users"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(postgres_server: PostgresTestServer) -> AsyncIterator[Api]:
    async with running_api(postgres_server) as api:
        yield api


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def admin(api: Api) -> Account:
    return await api.account("admin")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    header, payload, signature = token.split(".")
    decode = lambda s: orjson.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))  # noqa: E731
    return decode(header), decode(payload), signature


def unsigned(header: dict[str, Any], claims: dict[str, Any], signature: str = "") -> str:
    return f"{b64url(orjson.dumps(header))}.{b64url(orjson.dumps(claims))}.{signature}"


def hs256(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    signing_input = f"{b64url(orjson.dumps(header))}.{b64url(orjson.dumps(claims))}"
    mac = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


async def refused(api: Api, token: str, reason: str = "invalid") -> None:
    reply = await api.request("GET", ADMIN_ONLY, token=token)
    assert reply.status == 401, reply
    assert reply.errors["reason"] == reason
    assert reply.headers["www-authenticate"].startswith("Bearer error=")


async def test_the_genuine_admin_token_is_accepted(api: Api, admin: Account) -> None:
    assert (await api.request("GET", ADMIN_ONLY, token=admin.token)).status == 200


async def test_an_alg_none_token_is_refused(api: Api, admin: Account) -> None:
    header, claims, _ = segments(admin.token)
    await refused(api, unsigned({**header, "alg": "none"}, claims))
    await refused(api, unsigned({**header, "alg": "None"}, claims))


async def test_an_rs256_token_signed_with_the_attackers_key_is_refused(
    api: Api, admin: Account
) -> None:
    _, claims, _ = segments(admin.token)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
    await refused(api, forged)


async def test_an_hs256_token_keyed_with_a_public_key_is_refused(api: Api, admin: Account) -> None:
    header, claims, _ = segments(admin.token)
    public_pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    await refused(api, hs256(header, claims, public_pem))


async def test_a_token_signed_with_another_secret_under_our_kid_is_refused(
    api: Api, admin: Account
) -> None:
    header, claims, _ = segments(admin.token)
    await refused(api, hs256(header, claims, b"an-attacker-guessed-secret-0123456789"))


async def test_a_tampered_payload_keeping_the_original_signature_is_refused(
    api: Api,
) -> None:
    user = await api.account("user")
    header, claims, signature = segments(user.token)
    assert (await api.request("GET", "users/me", token=user.token)).status == 200
    await refused(api, unsigned(header, {**claims, "role": "admin"}, signature))
    await refused(api, unsigned(header, {**claims, "sub": "1"}, signature))


async def test_an_expired_token_is_refused_as_expired(api: Api, admin: Account) -> None:
    token = api.platform.tokens.issue_access(str(admin.id), "admin", now=time.time() - 3600)
    await refused(api, token, reason="expired")


async def test_a_token_not_yet_valid_is_refused(api: Api, admin: Account) -> None:
    token = api.platform.tokens.issue_access(str(admin.id), "admin", now=time.time() + 3600)
    await refused(api, token)


@pytest.mark.parametrize("field", ["audience", "issuer"])
async def test_a_token_for_another_audience_or_issuer_is_refused(
    api: Api, admin: Account, field: str
) -> None:
    auth = dataclasses.replace(api.platform.settings.auth, **{field: "someone-else"})
    token = tokens_from_settings(auth).issue_access(str(admin.id), "admin")
    await refused(api, token)


async def test_a_token_with_an_unknown_kid_is_refused(api: Api, admin: Account) -> None:
    header, claims, signature = segments(admin.token)
    await refused(api, unsigned({**header, "kid": "k2"}, claims, signature))


@pytest.mark.parametrize("garbage", ["abc", "a.b.c", "....", "eyJhbGciOiJIUzI1NiJ9..", "é.é.é"])
async def test_garbage_tokens_are_refused(api: Api, garbage: str) -> None:
    await refused(api, garbage)
