"""Roles, the one permission table, and resource checks.

Every "may this principal do that" question is answered here, from
:data:`PERMISSIONS`. Handlers and channels ask :func:`has_permission`,
:func:`require` or a resource check such as :func:`can_view_transaction`;
they never compare roles themselves.

Example::

    me = Principal(user_id=claims.subject, role=claims.role)
    require(me, Permission.TRANSACTIONS_CREATE)          # raises Forbidden (403)
    if not can_view_transaction(me, owner_id=tx.user_id, referrer_id=tx.referrer_id):
        raise Forbidden(Permission.TRANSACTIONS_READ_OWN)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from bitnexus.exceptions import Refused

__all__ = [
    "PERMISSIONS",
    "Forbidden",
    "Permission",
    "Principal",
    "Role",
    "UnknownRole",
    "can_view_notifications",
    "can_view_transaction",
    "has_permission",
    "require",
]


class UnknownRole(Refused):
    """A role name that is not ``admin``, ``user`` or ``affiliate`` (422)."""

    status = 422
    reason = "unknown_role"

    def __init__(self, value: Any) -> None:
        self.value = value
        super().__init__(f"unknown role {value!r:.64}; expected one of {[r.value for r in Role]}")


class Forbidden(Refused):
    """The principal lacks a permission, or may not see this resource (403).

    Attributes:
        permission: the permission that was missing, when there is one.
    """

    status = 403
    reason = "forbidden"

    def __init__(self, permission: Permission | None = None, detail: str = "") -> None:
        self.permission = permission
        text = f"missing permission {permission.value}" if permission else "forbidden"
        super().__init__(text + (f": {detail}" if detail else ""))


class Role(StrEnum):
    """A user's role on the platform."""

    ADMIN = "admin"
    USER = "user"
    AFFILIATE = "affiliate"

    @classmethod
    def parse(cls, value: object) -> Role:
        """The role named exactly ``value`` (lowercase, no whitespace).

        Raises:
            UnknownRole: anything else (422).

        Example::

            Role.parse("affiliate")   # Role.AFFILIATE
        """
        if isinstance(value, str):
            try:
                return cls(value)
            except ValueError:
                pass
        raise UnknownRole(value)


class Permission(StrEnum):
    """Something a role may do. Values are ``resource:action``."""

    PRODUCTS_READ = "products:read"
    PRODUCTS_WRITE = "products:write"
    TRANSACTIONS_CREATE = "transactions:create"
    TRANSACTIONS_READ_OWN = "transactions:read_own"
    TRANSACTIONS_READ_REFERRED = "transactions:read_referred"
    TRANSACTIONS_READ_ALL = "transactions:read_all"
    TRANSACTIONS_REFUND = "transactions:refund"
    USERS_READ_SELF = "users:read_self"
    USERS_MANAGE = "users:manage"
    COMMISSIONS_READ_OWN = "commissions:read_own"
    ADMIN_TREE = "admin:tree"
    """Read the live actor tree (operators' admin endpoint)."""
    ADMIN_ACT = "admin:act"
    """Kill or restart an actor from the admin endpoint."""


_USER = frozenset(
    {
        Permission.PRODUCTS_READ,
        Permission.TRANSACTIONS_CREATE,
        Permission.TRANSACTIONS_READ_OWN,
        Permission.USERS_READ_SELF,
    }
)

#: The permission table: the only place that says what a role may do.
PERMISSIONS: Mapping[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.ADMIN: frozenset(Permission),
        Role.USER: _USER,
        Role.AFFILIATE: _USER
        | {Permission.TRANSACTIONS_READ_REFERRED, Permission.COMMISSIONS_READ_OWN},
    }
)


@dataclass(frozen=True)
class Principal:
    """Who is acting: an authenticated user and their role.

    Attributes:
        user_id: the user's id. A token gives it as a string and the database
            as an int; the checks below compare ids by their string form, so
            ``"42"`` and ``42`` are the same user.
        role: the role the user acts with.

    Example::

        Principal(user_id=claims.subject, role=claims.role)
    """

    user_id: int | str
    role: Role

    @property
    def permissions(self) -> frozenset[Permission]:
        """Everything this principal may do."""
        return PERMISSIONS[self.role]


def _same_user(a: int | str | None, b: int | str | None) -> bool:
    # bool is an int subclass; True must not match user 1.
    if a is None or b is None or isinstance(a, bool) or isinstance(b, bool):
        return False
    return str(a) == str(b)


def has_permission(principal: Principal, permission: Permission) -> bool:
    """Whether the principal's role grants ``permission``.

    Example::

        has_permission(Principal(1, Role.USER), Permission.PRODUCTS_WRITE)   # False
    """
    return permission in PERMISSIONS[principal.role]


def require(principal: Principal, permission: Permission) -> None:
    """Raise :class:`Forbidden` unless the principal has ``permission``.

    Example::

        require(me, Permission.ADMIN_ACT)
    """
    if not has_permission(principal, permission):
        raise Forbidden(permission, f"role {principal.role.value}")


def can_view_transaction(
    principal: Principal,
    *,
    owner_id: int | str,
    referrer_id: int | str | None,
) -> bool:
    """Whether the principal may see one transaction.

    Allowed: admins (``transactions:read_all``), the user who made it
    (``transactions:read_own``), and the affiliate who referred that user
    (``transactions:read_referred``).

    Args:
        principal: who asks.
        owner_id: the user the transaction belongs to.
        referrer_id: the referring affiliate's user id, or ``None``.

    Example::

        can_view_transaction(me, owner_id=tx.user_id, referrer_id=tx.referrer_id)
    """
    perms = PERMISSIONS[principal.role]
    if Permission.TRANSACTIONS_READ_ALL in perms:
        return True
    if Permission.TRANSACTIONS_READ_OWN in perms and _same_user(principal.user_id, owner_id):
        return True
    return Permission.TRANSACTIONS_READ_REFERRED in perms and _same_user(
        principal.user_id, referrer_id
    )


def can_view_notifications(principal: Principal, user_id: int | str) -> bool:
    """Whether the principal may receive ``user_id``'s notifications.

    Only that user, whatever their role: notifications are personal, so
    admins do not get other users' notifications either (they have the
    admin endpoints). The channel layer uses this for ``notifications:<id>``.

    Example::

        can_view_notifications(Principal("7", Role.ADMIN), 8)   # False
    """
    return _same_user(principal.user_id, user_id)
