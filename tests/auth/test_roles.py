from __future__ import annotations

import pytest

from bitnexus.auth.roles import (
    PERMISSIONS,
    Forbidden,
    Permission,
    Principal,
    Role,
    UnknownRole,
    can_view_notifications,
    can_view_transaction,
    has_permission,
    require,
)
from bitnexus.exceptions import Refused

# The expected permission table, written out by hand. A = admin, U = user, F = affiliate.
EXPECTED = {
    "products:read": "AUF",
    "products:write": "A",
    "transactions:create": "AUF",
    "transactions:read_own": "AUF",
    "transactions:read_referred": "AF",
    "transactions:read_all": "A",
    "transactions:refund": "A",
    "users:read_self": "AUF",
    "users:manage": "A",
    "commissions:read_own": "AF",
    "admin:tree": "A",
    "admin:act": "A",
}
LETTER = {Role.ADMIN: "A", Role.USER: "U", Role.AFFILIATE: "F"}


def test_the_expected_table_covers_every_permission() -> None:
    assert set(EXPECTED) == {p.value for p in Permission}
    assert set(PERMISSIONS) == set(Role)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("permission", list(Permission))
def test_permission_matrix_matches_the_expected_table(role: Role, permission: Permission) -> None:
    expected = LETTER[role] in EXPECTED[permission.value]
    assert has_permission(Principal(1, role), permission) is expected


def test_role_values_are_the_wire_names() -> None:
    assert [r.value for r in Role] == ["admin", "user", "affiliate"]
    assert Role.ADMIN == "admin"


@pytest.mark.parametrize("name", ["admin", "user", "affiliate"])
def test_role_parses_from_its_name(name: str) -> None:
    assert Role.parse(name) is Role(name)


@pytest.mark.parametrize("value", ["Admin", "root", "", " user", None, 1])
def test_unknown_role_is_refused_with_422(value: object) -> None:
    with pytest.raises(UnknownRole) as info:
        Role.parse(value)
    assert info.value.status == 422
    assert isinstance(info.value, Refused)


def test_require_passes_silently_when_the_permission_is_granted() -> None:
    require(Principal(1, Role.ADMIN), Permission.ADMIN_ACT)


def test_require_raises_forbidden_403_naming_the_missing_permission() -> None:
    with pytest.raises(Forbidden) as info:
        require(Principal(1, Role.AFFILIATE), Permission.ADMIN_TREE)
    assert info.value.status == 403
    assert info.value.permission is Permission.ADMIN_TREE
    assert "admin:tree" in str(info.value)


def test_principal_lists_its_permissions() -> None:
    assert Principal("9", Role.USER).permissions == PERMISSIONS[Role.USER]


def test_owner_can_view_their_transaction() -> None:
    owner = Principal(5, Role.USER)
    assert can_view_transaction(owner, owner_id=5, referrer_id=None)


def test_referring_affiliate_can_view_the_referred_users_transaction() -> None:
    affiliate = Principal(7, Role.AFFILIATE)
    assert can_view_transaction(affiliate, owner_id=5, referrer_id=7)


def test_another_affiliate_cannot_view_the_transaction() -> None:
    affiliate = Principal(8, Role.AFFILIATE)
    assert not can_view_transaction(affiliate, owner_id=5, referrer_id=7)


def test_another_user_cannot_view_the_transaction() -> None:
    assert not can_view_transaction(Principal(6, Role.USER), owner_id=5, referrer_id=7)


def test_a_plain_user_named_as_referrer_still_cannot_view_the_transaction() -> None:
    assert not can_view_transaction(Principal(7, Role.USER), owner_id=5, referrer_id=7)


def test_admin_can_view_any_transaction() -> None:
    admin = Principal(1, Role.ADMIN)
    assert can_view_transaction(admin, owner_id=5, referrer_id=None)


def test_user_ids_from_tokens_match_integer_ids_from_the_database() -> None:
    from_token = Principal("5", Role.AFFILIATE)
    assert can_view_transaction(from_token, owner_id=5, referrer_id=None)
    assert can_view_transaction(from_token, owner_id=9, referrer_id=5)
    assert not can_view_transaction(Principal(True, Role.USER), owner_id=1, referrer_id=None)


def test_notifications_are_visible_only_to_their_user() -> None:
    assert can_view_notifications(Principal("7", Role.USER), 7)
    assert not can_view_notifications(Principal(8, Role.USER), 7)


def test_admins_do_not_see_other_users_notifications() -> None:
    assert not can_view_notifications(Principal(1, Role.ADMIN), 7)
