"""POST /api/v1/auth/*: register, login, refresh (rotation), logout, over real HTTP."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from bitnexus.repo.testing import PostgresTestServer

from .api_support import PASSWORD, Api, running_api

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(postgres_server: PostgresTestServer) -> AsyncIterator[Api]:
    async with running_api(postgres_server) as api:
        yield api


def new_email() -> str:
    return f"ada-{secrets.token_hex(4)}@example.test"


async def test_register_creates_a_user_and_never_returns_the_password(api: Api) -> None:
    email = new_email()
    reply = await api.request(
        "POST", "auth/register", json={"email": email, "password": PASSWORD, "display_name": "Ada"}
    )
    assert reply.status == 201
    user = reply.data
    assert user["email"] == email
    assert user["role"] == "user"
    assert user["display_name"] == "Ada"
    assert user["balance"] == {"amount_minor": 0, "currency": "USD"}
    assert "password" not in str(reply.body) and "hash" not in str(reply.body)


async def test_register_with_a_taken_email_is_a_409_on_the_email_field(api: Api) -> None:
    email = new_email()
    first = await api.request("POST", "auth/register", json={"email": email, "password": PASSWORD})
    assert first.status == 201
    again = await api.request(
        "POST", "auth/register", json={"email": email.upper(), "password": PASSWORD}
    )
    assert again.status == 409
    assert again.errors == {"email": ["has already been taken"]}


async def test_register_reports_every_invalid_field_as_a_422(api: Api) -> None:
    reply = await api.request(
        "POST", "auth/register", json={"email": "not-an-email", "password": "short"}
    )
    assert reply.status == 422
    assert set(reply.errors) == {"email", "password"}
    assert all(isinstance(m, list) and m for m in reply.errors.values())


async def test_register_refuses_a_referrer_that_is_not_an_affiliate(api: Api) -> None:
    plain = await api.account("user")
    reply = await api.request(
        "POST",
        "auth/register",
        json={"email": new_email(), "password": PASSWORD, "referred_by": plain.id},
    )
    assert reply.status == 422
    assert reply.errors == {"referred_by": ["must be the id of an affiliate"]}


async def test_register_with_an_affiliate_referrer_records_it(api: Api) -> None:
    affiliate = await api.account("affiliate")
    reply = await api.request(
        "POST",
        "auth/register",
        json={"email": new_email(), "password": PASSWORD, "referred_by": affiliate.id},
    )
    assert reply.status == 201
    assert reply.data["referred_by"] == affiliate.id


async def test_login_returns_a_bearer_token_that_opens_the_api(api: Api) -> None:
    account = await api.account("user")
    reply = await api.request(
        "POST", "auth/login", json={"email": account.email, "password": PASSWORD}
    )
    assert reply.status == 200
    assert reply.headers["cache-control"] == "no-store"
    tokens = reply.data
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == api.platform.settings.auth.access_ttl
    assert tokens["user"]["id"] == account.id
    me = await api.request("GET", "users/me", token=tokens["access_token"])
    assert (me.status, me.data["id"]) == (200, account.id)


@pytest.mark.parametrize("which", ["wrong password", "unknown email"])
async def test_login_with_bad_credentials_is_a_401_that_does_not_say_which(
    api: Api, which: str
) -> None:
    account = await api.account("user")
    email = account.email if which == "wrong password" else new_email()
    password = "not the password" if which == "wrong password" else PASSWORD
    reply = await api.request("POST", "auth/login", json={"email": email, "password": password})
    assert reply.status == 401
    assert reply.errors == {"detail": "invalid email or password", "reason": "invalid_credentials"}


async def test_login_without_fields_is_a_422(api: Api) -> None:
    reply = await api.request("POST", "auth/login", json={})
    assert reply.status == 422
    assert reply.errors == {"email": ["can't be blank"], "password": ["can't be blank"]}


async def test_refresh_rotates_the_refresh_token(api: Api) -> None:
    account = await api.account("user")
    first = await api.request("POST", "auth/refresh", json={"refresh_token": account.refresh_token})
    assert first.status == 200
    rotated = first.data
    assert rotated["refresh_token"] != account.refresh_token
    me = await api.request("GET", "users/me", token=rotated["access_token"])
    assert me.status == 200
    reused = await api.request(
        "POST", "auth/refresh", json={"refresh_token": account.refresh_token}
    )
    assert reused.status == 401
    assert reused.errors["reason"] == "invalid_refresh_token"


async def test_reusing_a_spent_refresh_token_revokes_the_whole_family(api: Api) -> None:
    account = await api.account("user")
    rotated = await api.request(
        "POST", "auth/refresh", json={"refresh_token": account.refresh_token}
    )
    await api.request("POST", "auth/refresh", json={"refresh_token": account.refresh_token})
    newest = await api.request(
        "POST", "auth/refresh", json={"refresh_token": rotated.data["refresh_token"]}
    )
    assert newest.status == 401


async def test_logout_revokes_the_refresh_token(api: Api) -> None:
    account = await api.account("user")
    out = await api.request("POST", "auth/logout", json={"refresh_token": account.refresh_token})
    assert (out.status, out.body) == (204, None)
    after = await api.request("POST", "auth/refresh", json={"refresh_token": account.refresh_token})
    assert after.status == 401


async def test_logout_with_an_unknown_token_still_answers_204(api: Api) -> None:
    reply = await api.request("POST", "auth/logout", json={"refresh_token": "never-issued"})
    assert reply.status == 204


async def test_refresh_without_a_token_is_a_422(api: Api) -> None:
    reply = await api.request("POST", "auth/refresh", json={"refresh_token": ""})
    assert reply.status == 422
    assert reply.errors == {"refresh_token": ["can't be blank"]}
