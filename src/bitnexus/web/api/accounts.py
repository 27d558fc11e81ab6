"""Accounts controller: one's own profile, and user administration.

``/users/me`` is every authenticated user's; ``/users`` and ``/users/{id}``
need ``users:manage`` (admins), enforced by the route's permission.

Example::

    PATCH /api/v1/users/me {"display_name": "Ada"}          → 200 {"data": {...}}
    POST /api/v1/users/7/balance {"amount_minor": 10000}    → 200 (admin credit)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from bitnexus.web.api import params
from bitnexus.web.api.views import one, page, user_view
from bitnexus.web.errors import ApiError, json_response
from bitnexus.web.request_keys import PRINCIPAL_KEY

if TYPE_CHECKING:
    from bitnexus.platform import Platform

__all__ = ["AccountsController"]


class AccountsController:
    """Actions of ``/api/v1/users``.

    Args:
        platform: where the accounts service pool and password hashers live.
    """

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def me(self, request: web.Request) -> web.Response:
        """The caller's own account."""
        user = await self.platform.accounts.call("get_user", user_id=request[PRINCIPAL_KEY].user_id)
        return json_response(one(user_view(user)))

    async def update_me(self, request: web.Request) -> web.Response:
        """Change one's display name and/or password.

        A new password needs ``current_password``: a stolen access token
        alone must not be enough to take the account over.
        """
        body = params.body(request)
        user_id = request[PRINCIPAL_KEY].user_id
        changes: dict[str, Any] = {}
        if "display_name" in body:
            changes["display_name"] = body["display_name"]
        if "password" in body:
            await self._check_current_password(user_id, body.get("current_password"))
            changes["password"] = body["password"]
        user = await self.platform.accounts.call("update_profile", user_id=user_id, **changes)
        return json_response(one(user_view(user)))

    async def _check_current_password(self, user_id: int, current: str | None) -> None:
        if not current:
            raise ApiError(422, {"current_password": ["can't be blank"]})
        user = await self.platform.accounts.call("get_user", user_id=user_id)
        if not await self.platform.passwords.verify(user.password_hash, current):
            raise ApiError(422, {"current_password": ["is incorrect"]})

    async def index(self, request: web.Request) -> web.Response:
        """Every account, a page at a time, optionally of one role (admin)."""
        query = params.query(request)
        users = await self.platform.accounts.call(
            "list_users", limit=query["limit"], offset=query["offset"], role=query.get("role")
        )
        return json_response(
            page([user_view(u) for u in users], limit=query["limit"], offset=query["offset"])
        )

    async def show(self, request: web.Request) -> web.Response:
        """One account (admin)."""
        user = await self.platform.accounts.call("get_user", user_id=params.path_id(request))
        return json_response(one(user_view(user)))

    async def update(self, request: web.Request) -> web.Response:
        """Change an account's role, display name or referrer (admin)."""
        user_id = params.path_id(request)
        body = params.body(request)
        user = await self.platform.accounts.call("admin_update_user", user_id=user_id, **body)
        return json_response(one(user_view(user)))

    async def adjust_balance(self, request: web.Request) -> web.Response:
        """Credit (or, negative, debit) an account's balance (admin)."""
        user_id = params.path_id(request)
        body = params.body(request)
        user = await self.platform.accounts.call(
            "adjust_balance", user_id=user_id, amount_minor=body["amount_minor"]
        )
        return json_response(one(user_view(user)))
