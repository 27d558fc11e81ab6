"""/api/v1/users: one's own profile, and user administration (admin), over real HTTP."""

from __future__ import annotations

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


async def test_me_is_the_callers_own_account(api: Api) -> None:
    account = await api.account("affiliate", balance_minor=5_00)
    reply = await api.request("GET", "users/me", token=account.token)
    assert reply.status == 200
    assert reply.data["id"] == account.id
    assert reply.data["role"] == "affiliate"
    assert reply.data["balance"] == {"amount_minor": 5_00, "currency": "USD"}


async def test_a_user_changes_their_display_name(api: Api) -> None:
    account = await api.account("user")
    reply = await api.request(
        "PATCH", "users/me", token=account.token, json={"display_name": "  Ada L.  "}
    )
    assert (reply.status, reply.data["display_name"]) == (200, "Ada L.")
    cleared = await api.request(
        "PATCH", "users/me", token=account.token, json={"display_name": None}
    )
    assert cleared.data["display_name"] is None


async def test_changing_the_password_needs_the_current_one(api: Api) -> None:
    account = await api.account("user")
    missing = await api.request(
        "PATCH", "users/me", token=account.token, json={"password": "a brand new one"}
    )
    assert (missing.status, missing.errors) == (422, {"current_password": ["can't be blank"]})
    wrong = await api.request(
        "PATCH",
        "users/me",
        token=account.token,
        json={"password": "a brand new one", "current_password": "guess"},
    )
    assert (wrong.status, wrong.errors) == (422, {"current_password": ["is incorrect"]})
    changed = await api.request(
        "PATCH",
        "users/me",
        token=account.token,
        json={"password": "a brand new one", "current_password": PASSWORD},
    )
    assert changed.status == 200
    old = await api.request(
        "POST", "auth/login", json={"email": account.email, "password": PASSWORD}
    )
    assert old.status == 401
    new = await api.request(
        "POST", "auth/login", json={"email": account.email, "password": "a brand new one"}
    )
    assert new.status == 200


async def test_a_password_change_ends_the_other_sessions_refresh_tokens(api: Api) -> None:
    account = await api.account("user")
    await api.request(
        "PATCH",
        "users/me",
        token=account.token,
        json={"password": "another new one", "current_password": PASSWORD},
    )
    reply = await api.request("POST", "auth/refresh", json={"refresh_token": account.refresh_token})
    assert reply.status == 401


async def test_profile_changes_are_validated(api: Api) -> None:
    account = await api.account("user")
    reply = await api.request(
        "PATCH",
        "users/me",
        token=account.token,
        json={"display_name": "x" * 101, "role": "admin"},
    )
    assert reply.status == 422
    assert reply.errors == {
        "display_name": ["should be at most 100 characters"],
        "role": ["is not a known field"],
    }


async def test_an_admin_lists_users_a_page_at_a_time_and_by_role(api: Api) -> None:
    admin = await api.account("admin")
    affiliate = await api.account("affiliate")
    first = await api.request("GET", "users?limit=1&offset=0", token=admin.token)
    assert first.status == 200
    assert first.body["meta"] == {"limit": 1, "offset": 0, "count": 1}
    affiliates = await api.request("GET", "users?role=affiliate&limit=1000", token=admin.token)
    assert affiliate.id in [u["id"] for u in affiliates.data]
    assert {u["role"] for u in affiliates.data} == {"affiliate"}
    bad = await api.request("GET", "users?role=root&limit=0", token=admin.token)
    assert bad.status == 422
    assert set(bad.errors) == {"role", "limit"}


async def test_an_admin_reads_and_updates_any_user(api: Api) -> None:
    admin = await api.account("admin")
    affiliate = await api.account("affiliate")
    user = await api.account("user")
    shown = await api.request("GET", f"users/{user.id}", token=admin.token)
    assert (shown.status, shown.data["email"]) == (200, user.email)
    updated = await api.request(
        "PATCH",
        f"users/{user.id}",
        token=admin.token,
        json={"role": "affiliate", "display_name": "Promoted", "referred_by": affiliate.id},
    )
    assert updated.status == 200
    assert (updated.data["role"], updated.data["referred_by"]) == ("affiliate", affiliate.id)
    refused = await api.request(
        "PATCH", f"users/{user.id}", token=admin.token, json={"role": "superuser"}
    )
    assert refused.status == 422
    assert list(refused.errors) == ["role"]


async def test_an_unknown_user_id_is_a_404(api: Api) -> None:
    admin = await api.account("admin")
    for path in ("users/999999", "users/0", "users/abc"):
        reply = await api.request("GET", path, token=admin.token)
        assert reply.status == 404, path
        assert "detail" in reply.errors


async def test_an_admin_credits_and_debits_a_balance(api: Api) -> None:
    admin = await api.account("admin")
    user = await api.account("user")
    credited = await api.request(
        "POST", f"users/{user.id}/balance", token=admin.token, json={"amount_minor": 25_00}
    )
    assert credited.status == 200
    assert credited.data["balance"] == {"amount_minor": 25_00, "currency": "USD"}
    debited = await api.request(
        "POST", f"users/{user.id}/balance", token=admin.token, json={"amount_minor": -5_00}
    )
    assert debited.data["balance"]["amount_minor"] == 20_00
    overdrawn = await api.request(
        "POST", f"users/{user.id}/balance", token=admin.token, json={"amount_minor": -99_00}
    )
    assert overdrawn.status == 422
    assert list(overdrawn.errors) == ["amount_minor"]
    me = await api.request("GET", "users/me", token=user.token)
    assert me.data["balance"]["amount_minor"] == 20_00


@pytest.mark.parametrize("amount", [0, 1.5, "100", None, 10**16])
async def test_a_balance_change_must_be_a_non_zero_integer_in_range(
    api: Api, amount: object
) -> None:
    admin = await api.account("admin")
    reply = await api.request(
        "POST", f"users/{admin.id}/balance", token=admin.token, json={"amount_minor": amount}
    )
    assert reply.status == 422
    assert list(reply.errors) == ["amount_minor"]
