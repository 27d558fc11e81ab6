from __future__ import annotations

import secrets

import pytest

from bitnexus.auth import PasswordHasher, Role
from bitnexus.repo import NotFound, queries
from bitnexus.repo.testing import make_user
from bitnexus.services import (
    FieldConflict,
    InvalidCredentials,
    InvalidRefreshToken,
    TokenPair,
    ValidationFailed,
)

from .conftest import REFRESH_TTL, Services

PASSWORD = "correct horse"


def email() -> str:
    return f"ada-{secrets.token_hex(4)}@example.com"


async def register(services: Services, **fields: object):
    fields.setdefault("email", email())
    fields.setdefault("password", PASSWORD)
    return await services.accounts.call("register", **fields)


async def login(services: Services, address: str, password: str = PASSWORD) -> TokenPair:
    return await services.accounts.call("login", email=address, password=password)


async def test_register_creates_a_user_with_an_argon2_hash_and_no_clear_password(
    services: Services,
):
    user = await register(services, email="  Ada@Example.com ", display_name=" Ada ")

    assert (user.email, user.role, user.display_name) == ("Ada@Example.com", "user", "Ada")
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert (await queries.get_user(services.db, user.id)).password_hash == user.password_hash


async def test_register_reports_every_bad_field_at_once(services: Services):
    with pytest.raises(ValidationFailed) as failed:
        await register(services, email="not-an-email", password="short", display_name="   ")

    assert failed.value.status == 422
    assert set(failed.value.errors) == {"email", "password", "display_name"}
    assert failed.value.errors["email"] == ["has invalid format"]
    assert failed.value.errors["password"] == ["should be at least 8 characters"]


async def test_register_refuses_an_email_taken_in_another_case(services: Services):
    await register(services, email="bo@example.com")

    with pytest.raises(FieldConflict) as conflict:
        await register(services, email="BO@example.com")

    assert conflict.value.status == 409
    assert conflict.value.errors == {"email": ["has already been taken"]}


async def test_register_accepts_only_an_affiliate_as_referrer(services: Services):
    affiliate = await make_user(services.db, role="affiliate")
    plain = await make_user(services.db, role="user")

    user = await register(services, referred_by=affiliate.id)
    assert user.referred_by == affiliate.id
    for bad in (plain.id, 999_999, "7", True):
        with pytest.raises(ValidationFailed) as failed:
            await register(services, referred_by=bad)
        assert "referred_by" in failed.value.errors


async def test_login_returns_a_token_pair_for_the_user_and_their_role(services: Services):
    user = await register(services)

    pair = await login(services, user.email.upper())

    assert (pair.token_type, pair.expires_in, pair.user.id) == ("bearer", 900, user.id)
    assert pair.refresh_expires_in == REFRESH_TTL
    claims = services.tokens.verify_access(pair.access_token)
    assert (claims.subject, claims.role) == (str(user.id), Role.USER)
    assert pair.access_token not in repr(pair) and pair.refresh_token not in repr(pair)


async def test_a_wrong_password_and_an_unknown_email_fail_the_same_way(services: Services):
    user = await register(services)

    with pytest.raises(InvalidCredentials) as wrong:
        await login(services, user.email, "wrong password")
    with pytest.raises(InvalidCredentials) as unknown:
        await login(services, "nobody@example.com")

    assert wrong.value.status == unknown.value.status == 401
    assert wrong.value.errors == unknown.value.errors


async def test_login_without_email_or_password_is_a_validation_error(services: Services):
    with pytest.raises(ValidationFailed) as failed:
        await services.accounts.call("login", email=" ", password="")

    assert failed.value.errors == {"email": ["can't be blank"], "password": ["can't be blank"]}


async def test_login_upgrades_a_hash_made_with_other_costs(services: Services):
    old = PasswordHasher(time_cost=2, memory_cost=64, parallelism=1).hash(PASSWORD)
    user = await queries.create_user(services.db, email=email(), password_hash=old)

    await login(services, user.email)

    upgraded = (await queries.get_user(services.db, user.id)).password_hash
    assert upgraded != old
    assert not services.hashers.needs_rehash(upgraded)
    await login(services, user.email)


async def test_refresh_rotates_the_pair_and_uses_up_the_old_refresh_token(services: Services):
    user = await register(services)
    first = await login(services, user.email)

    second = await services.accounts.call("refresh", refresh_token=first.refresh_token)

    assert second.refresh_token != first.refresh_token
    assert services.tokens.verify_access(second.access_token).subject == str(user.id)
    with pytest.raises(InvalidRefreshToken) as reused:
        await services.accounts.call("refresh", refresh_token=first.refresh_token)
    assert reused.value.status == 401


async def test_reusing_a_used_refresh_token_revokes_the_rotated_one_too(services: Services):
    user = await register(services)
    first = await login(services, user.email)
    second = await services.accounts.call("refresh", refresh_token=first.refresh_token)
    other_device = await login(services, user.email)

    with pytest.raises(InvalidRefreshToken):
        await services.accounts.call("refresh", refresh_token=first.refresh_token)

    for revoked in (second, other_device):
        with pytest.raises(InvalidRefreshToken):
            await services.accounts.call("refresh", refresh_token=revoked.refresh_token)
    await login(services, user.email)  # logging in again still works


async def test_refresh_gives_the_current_role(services: Services):
    user = await register(services)
    pair = await login(services, user.email)
    await services.accounts.call("admin_update_user", user_id=user.id, role="affiliate")

    fresh = await services.accounts.call("refresh", refresh_token=pair.refresh_token)

    assert services.tokens.verify_access(fresh.access_token).role is Role.AFFILIATE


async def test_unknown_or_missing_refresh_tokens_are_refused(services: Services):
    for token in ("made-up", "", None):
        with pytest.raises(InvalidRefreshToken):
            await services.accounts.call("refresh", refresh_token=token)


async def test_logout_revokes_the_refresh_token_and_disconnects_the_users_sockets(
    services: Services,
):
    user = await register(services)
    pair = await login(services, user.email)

    assert await services.accounts.call("logout", refresh_token=pair.refresh_token) is None

    assert services.disconnected == [user.id]
    with pytest.raises(InvalidRefreshToken):
        await services.accounts.call("refresh", refresh_token=pair.refresh_token)


async def test_logout_with_an_unknown_or_spent_token_does_nothing(services: Services):
    user = await register(services)
    pair = await login(services, user.email)
    await services.accounts.call("logout", refresh_token=pair.refresh_token)

    await services.accounts.call("logout", refresh_token=pair.refresh_token)
    await services.accounts.call("logout", refresh_token="made-up")

    assert services.disconnected == [user.id]


async def test_a_new_password_replaces_the_old_one_and_ends_every_session(services: Services):
    user = await register(services)
    pair = await login(services, user.email)

    updated = await services.accounts.call(
        "update_profile", user_id=user.id, password="new password!"
    )

    assert updated.password_hash != user.password_hash
    with pytest.raises(InvalidCredentials):
        await login(services, user.email)
    await login(services, user.email, "new password!")
    with pytest.raises(InvalidRefreshToken):
        await services.accounts.call("refresh", refresh_token=pair.refresh_token)


async def test_update_profile_changes_only_what_it_is_given(services: Services):
    user = await register(services, display_name="Ada")

    renamed = await services.accounts.call(
        "update_profile", user_id=user.id, display_name="Lovelace"
    )
    cleared = await services.accounts.call("update_profile", user_id=user.id, display_name=None)

    assert renamed.display_name == "Lovelace"
    assert cleared.display_name is None
    assert cleared.password_hash == user.password_hash
    with pytest.raises(ValidationFailed) as failed:
        await services.accounts.call("update_profile", user_id=user.id, password="short")
    assert failed.value.errors == {"password": ["should be at least 8 characters"]}


async def test_get_user_of_a_missing_id_is_not_found(services: Services):
    with pytest.raises(NotFound):
        await services.accounts.call("get_user", user_id=987_654)
    with pytest.raises(ValidationFailed):
        await services.accounts.call("get_user", user_id="1")


async def test_list_users_pages_and_filters_by_role(services: Services):
    affiliates = [await make_user(services.db, role="affiliate") for _ in range(3)]
    await make_user(services.db, role="user")

    page = await services.accounts.call("list_users", limit=2, offset=1, role="affiliate")

    assert [u.id for u in page] == [a.id for a in affiliates[1:]]
    with pytest.raises(ValidationFailed) as failed:
        await services.accounts.call("list_users", limit=0, offset=-1, role="root")
    assert set(failed.value.errors) == {"limit", "offset", "role"}


async def test_admin_update_user_changes_role_and_closes_the_users_sockets(services: Services):
    user = await register(services)

    updated = await services.accounts.call("admin_update_user", user_id=user.id, role="affiliate")
    renamed = await services.accounts.call("admin_update_user", user_id=user.id, display_name="Al")

    assert (updated.role, renamed.display_name) == ("affiliate", "Al")
    assert services.disconnected == [user.id]  # the rename changed no role


async def test_admin_update_user_checks_the_referrer(services: Services):
    affiliate = await make_user(services.db, role="affiliate")
    user = await register(services)

    referred = await services.accounts.call(
        "admin_update_user", user_id=user.id, referred_by=affiliate.id
    )
    assert referred.referred_by == affiliate.id
    cleared = await services.accounts.call("admin_update_user", user_id=user.id, referred_by=None)
    assert cleared.referred_by is None
    for bad in (user.id, (await make_user(services.db)).id):
        with pytest.raises(ValidationFailed) as failed:
            await services.accounts.call("admin_update_user", user_id=user.id, referred_by=bad)
        assert "referred_by" in failed.value.errors
    with pytest.raises(ValidationFailed) as failed:
        await services.accounts.call("admin_update_user", user_id=user.id, role="root")
    assert "role" in failed.value.errors


async def test_adjust_balance_credits_and_debits_but_never_below_zero(services: Services):
    user = await make_user(services.db, balance_minor=5_00)

    credited = await services.accounts.call("adjust_balance", user_id=user.id, amount_minor=2_50)
    debited = await services.accounts.call("adjust_balance", user_id=user.id, amount_minor=-7_00)

    assert (credited.balance_minor, debited.balance_minor) == (7_50, 50)
    for bad in (-51, 0, 1.5, True, 10**16):
        with pytest.raises(ValidationFailed) as failed:
            await services.accounts.call("adjust_balance", user_id=user.id, amount_minor=bad)
        assert "amount_minor" in failed.value.errors
    assert (await queries.get_user(services.db, user.id)).balance_minor == 50
    with pytest.raises(NotFound):
        await services.accounts.call("adjust_balance", user_id=987_654, amount_minor=1)
