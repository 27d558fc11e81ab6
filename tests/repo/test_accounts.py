from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bitnexus.repo.database import Database
from bitnexus.repo.queries import (
    Conflict,
    Invalid,
    NotFound,
    consume_refresh_token,
    create_user,
    credit,
    get_user,
    get_user_by_email,
    list_users,
    lookup_refresh_token,
    revoke_refresh_token,
    revoke_user_refresh_tokens,
    set_balance,
    store_refresh_token,
    update_user,
)
from bitnexus.repo.testing import make_user


async def test_created_user_reads_back_with_defaults_and_hides_its_hash_from_repr(
    database: Database,
):
    created = await create_user(database, email="ada@example.com", password_hash="$argon2$secret")
    fetched = await get_user(database, created.id)
    assert fetched == created
    assert (fetched.role, fetched.balance_minor, fetched.currency) == ("user", 0, "USD")
    assert fetched.referred_by is None
    assert "secret" not in repr(fetched)


async def test_email_is_unique_regardless_of_case_and_a_duplicate_is_conflict_409(
    database: Database,
):
    await create_user(database, email="Ada@Example.com", password_hash="h")
    with pytest.raises(Conflict, match="already registered") as caught:
        await create_user(database, email="ada@example.COM", password_hash="h")
    assert caught.value.status == 409


async def test_user_is_found_by_email_in_any_case(database: Database):
    user = await make_user(database, email="Bo@Example.com")
    assert (await get_user_by_email(database, "bo@example.com")).id == user.id
    with pytest.raises(NotFound):
        await get_user_by_email(database, "nobody@example.com")


async def test_missing_user_is_not_found_404(database: Database):
    with pytest.raises(NotFound, match="user 999 does not exist") as caught:
        await get_user(database, 999)
    assert caught.value.status == 404


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"role": "superuser"}, "role must be one of"),
        ({"referred_by": 12345}, "referring user does not exist"),
        ({"currency": "usd"}, "currency must be three capital letters"),
        ({"balance_minor": -1}, "balance cannot go below zero"),
    ],
)
async def test_values_the_schema_forbids_are_invalid_422(
    database: Database, fields: dict[str, object], message: str
):
    with pytest.raises(Invalid, match=message) as caught:
        await create_user(database, email="x@example.com", password_hash="h", **fields)  # type: ignore[arg-type]
    assert caught.value.status == 422


async def test_users_are_listed_in_pages_and_by_role(database: Database):
    made = [await make_user(database, role="affiliate" if i % 2 else "user") for i in range(5)]
    first = await list_users(database, limit=2)
    second = await list_users(database, limit=2, offset=2)
    rest = await list_users(database, limit=2, offset=4)
    assert [u.id for u in first + second + rest] == [u.id for u in made]
    affiliates = await list_users(database, role="affiliate")
    assert [u.id for u in affiliates] == [made[1].id, made[3].id]
    with pytest.raises(Invalid, match="limit"):
        await list_users(database, limit=0)


async def test_update_changes_only_the_fields_given_and_bumps_updated_at(database: Database):
    user = await make_user(database, display_name="Ada")
    await asyncio.sleep(0.01)
    promoted = await update_user(database, user.id, role="admin")
    assert (promoted.role, promoted.display_name, promoted.email) == ("admin", "Ada", user.email)
    assert promoted.updated_at > user.updated_at
    cleared = await update_user(database, user.id, display_name=None)
    assert (cleared.display_name, cleared.role) == (None, "admin")
    assert await update_user(database, user.id) == cleared


async def test_update_to_a_taken_email_is_conflict_and_of_a_missing_user_not_found(
    database: Database,
):
    ada = await make_user(database, email="ada@example.com")
    bo = await make_user(database)
    with pytest.raises(Conflict):
        await update_user(database, bo.id, email="ADA@example.com")
    with pytest.raises(NotFound):
        await update_user(database, 999, role="user")
    assert (await get_user(database, ada.id)).email == "ada@example.com"


async def test_credit_adds_to_the_balance_and_refuses_non_positive_amounts(database: Database):
    user = await make_user(database, balance_minor=1_00)
    assert (await credit(database, user.id, 2_50)).balance_minor == 3_50
    with pytest.raises(Invalid):
        await credit(database, user.id, 0)
    with pytest.raises(NotFound):
        await credit(database, 999, 1)


async def test_concurrent_credits_are_all_counted(database: Database):
    user = await make_user(database)
    await asyncio.gather(*(credit(database, user.id, 1) for _ in range(40)))
    assert (await get_user(database, user.id)).balance_minor == 40


async def test_balance_can_be_set_but_never_below_zero(database: Database):
    user = await make_user(database, balance_minor=5)
    assert (await set_balance(database, user.id, 0)).balance_minor == 0
    with pytest.raises(Invalid, match="below zero"):
        await set_balance(database, user.id, -1)


async def test_refresh_token_is_stored_looked_up_and_revoked(database: Database):
    user = await make_user(database)
    expires = datetime.now(UTC) + timedelta(days=1)
    stored = await store_refresh_token(database, token_hash="a" * 64, user_id=user.id,
                                       expires_at=expires)  # fmt: skip
    assert await lookup_refresh_token(database, "a" * 64) == stored
    assert await lookup_refresh_token(database, "b" * 64) is None
    assert await revoke_refresh_token(database, "a" * 64) is True
    assert await revoke_refresh_token(database, "a" * 64) is False
    looked_up = await lookup_refresh_token(database, "a" * 64)
    assert looked_up is not None and looked_up.revoked_at is not None


async def test_a_refresh_token_can_be_consumed_only_once_even_concurrently(database: Database):
    user = await make_user(database)
    expires = datetime.now(UTC) + timedelta(days=1)
    await store_refresh_token(database, token_hash="t", user_id=user.id, expires_at=expires)
    results = await asyncio.gather(*(consume_refresh_token(database, "t") for _ in range(5)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    assert winners[0].user_id == user.id


async def test_an_expired_refresh_token_cannot_be_consumed(database: Database):
    user = await make_user(database)
    past = datetime.now(UTC) - timedelta(seconds=1)
    await store_refresh_token(database, token_hash="old", user_id=user.id, expires_at=past)
    assert await consume_refresh_token(database, "old") is None


async def test_revoking_all_tokens_of_a_user_counts_only_usable_ones(database: Database):
    user, other = await make_user(database), await make_user(database)
    expires = datetime.now(UTC) + timedelta(days=1)
    for name in ("1", "2", "3"):
        await store_refresh_token(database, token_hash=name, user_id=user.id, expires_at=expires)
    await store_refresh_token(database, token_hash="other", user_id=other.id, expires_at=expires)
    await revoke_refresh_token(database, "1")
    assert await revoke_user_refresh_tokens(database, user.id) == 2
    other_token = await lookup_refresh_token(database, "other")
    assert other_token is not None and other_token.revoked_at is None


async def test_storing_a_token_for_a_missing_user_is_not_found(database: Database):
    with pytest.raises(NotFound):
        await store_refresh_token(database, token_hash="x", user_id=999,
                                  expires_at=datetime.now(UTC))  # fmt: skip
