"""Rate limits over real HTTP: per client IP and per user, 429 with retry-after.

Limits are per minute (settings ``http.rate_limit_per_ip`` and
``http.rate_limit_per_user``); each test runs a server with a low one.
"""

from __future__ import annotations

from bitnexus.repo.testing import PostgresTestServer

from .api_support import running_api


async def test_past_the_per_ip_limit_requests_get_429_with_retry_after(
    postgres_server: PostgresTestServer,
) -> None:
    async with running_api(postgres_server, {"http.rate_limit_per_ip": 5}) as api:
        statuses = [(await api.request("GET", "openapi.json")).status for _ in range(5)]
        assert statuses == [200] * 5
        limited = await api.request("GET", "openapi.json")
        assert limited.status == 429
        wait = int(limited.headers["retry-after"])
        assert 1 <= wait <= 12
        assert limited.errors == {"detail": "rate limit exceeded", "retry_after": wait}
        # Every route shares the client's budget, login included.
        login = await api.request("POST", "auth/login", json={"email": "a@b.cd", "password": "x"})
        assert login.status == 429


async def test_the_per_user_limit_counts_each_user_separately(
    postgres_server: PostgresTestServer,
) -> None:
    overrides = {"http.rate_limit_per_ip": 10_000, "http.rate_limit_per_user": 3}
    async with running_api(postgres_server, overrides) as api:
        ada, bob = await api.account("user"), await api.account("user")
        statuses = [
            (await api.request("GET", "users/me", token=ada.token)).status for _ in range(4)
        ]
        assert statuses == [200, 200, 200, 429]
        assert (
            int((await api.request("GET", "users/me", token=ada.token)).headers["retry-after"]) >= 1
        )
        assert (await api.request("GET", "users/me", token=bob.token)).status == 200
        # Public routes are limited by IP only: logging in still works for ada.
        login = await api.request(
            "POST", "auth/login", json={"email": ada.email, "password": ada.password}
        )
        assert login.status == 200
