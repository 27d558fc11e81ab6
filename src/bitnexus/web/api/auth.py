"""Auth controller: register, log in, refresh, log out.

Public routes (no bearer token). Token responses carry ``Cache-Control:
no-store`` so no cache along the way keeps a credential.

Example::

    POST /api/v1/auth/login {"email": "ada@example.com", "password": "..."}
    → 200 {"data": {"access_token": "eyJ...", "refresh_token": "...",
                    "token_type": "bearer", "expires_in": 900, "user": {...}}}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from bitnexus.web.api import params
from bitnexus.web.api.views import one, token_view, user_view
from bitnexus.web.errors import json_response

if TYPE_CHECKING:
    from bitnexus.platform import Platform

__all__ = ["AuthController"]

_NO_STORE = {"cache-control": "no-store"}


class AuthController:
    """Actions of ``/api/v1/auth``.

    Args:
        platform: where the accounts service pool lives.
    """

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def register(self, request: web.Request) -> web.Response:
        """Create an account (role ``user``); 201 with the user."""
        body = params.body(request)
        user = await self.platform.accounts.call(
            "register",
            email=body["email"],
            password=body["password"],
            display_name=body.get("display_name"),
            referred_by=body.get("referred_by"),
        )
        return json_response(one(user_view(user)), status=201)

    async def login(self, request: web.Request) -> web.Response:
        """Check the password; 200 with an access and a refresh token."""
        body = params.body(request)
        pair = await self.platform.accounts.call(
            "login", email=body["email"], password=body["password"]
        )
        return json_response(one(token_view(pair)), headers=_NO_STORE)

    async def refresh(self, request: web.Request) -> web.Response:
        """Trade a refresh token (used up) for a new pair."""
        body = params.body(request)
        pair = await self.platform.accounts.call("refresh", refresh_token=body["refresh_token"])
        return json_response(one(token_view(pair)), headers=_NO_STORE)

    async def logout(self, request: web.Request) -> web.Response:
        """Revoke a refresh token; 204 whether or not it was known."""
        body = params.body(request)
        await self.platform.accounts.call("logout", refresh_token=body["refresh_token"])
        return web.Response(status=204)
