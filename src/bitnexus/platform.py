"""The BitNexus platform composed on a server: database, services, socket, API.

:func:`attach_platform` is called by :func:`bitnexus.server.build_server`. It
builds one :class:`Platform` from the settings and stores it on the app under
:data:`~bitnexus.web.keys.PLATFORM_KEY`, adds the database component, mounts
the user socket at ``/socket`` (websocket and long poll), installs the HTTP
API when :mod:`bitnexus.web.api` is present, and returns the child specs the
application tree must run: the password hashing threads and the three
service pools.

Start and stop order: the database component is added before the server's
runtime component, so the pool is open (and migrated, in dev and test) before
any service worker starts, and closes only after the tree has stopped.

The database is ``DATABASE_URL`` when set; otherwise an embedded PostgreSQL
in ``database.data_dir`` (``.bitnexus/pgdata`` under the project root),
started with the server and stopped with it. The log says which.

Example::

    app = build_server(load_settings("dev"))         # calls attach_platform
    platform = app[PLATFORM_KEY]
    user = await platform.accounts.call("register", email="ada@example.com",
                                        password="correct horse")
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiohttp import web

from bitnexus.auth.passwords import PasswordHasher
from bitnexus.auth.tokens import SigningKey, Tokens
from bitnexus.channels.hub import Hub
from bitnexus.channels.mount import mount_socket
from bitnexus.config import AuthSettings, Settings
from bitnexus.exceptions import Misuse
from bitnexus.log import get_logger
from bitnexus.repo import Database, DatabaseUnavailable, EmbeddedPostgres, migrate, pending
from bitnexus.services import (
    AccountsService,
    CatalogueCache,
    PasswordHashers,
    ProductsService,
    ServicePool,
    TransactionsService,
)
from bitnexus.supervision import ChildSpec
from bitnexus.web.endpoint import add_component
from bitnexus.web.keys import PLATFORM_KEY
from bitnexus.web.plugs import RateLimiter
from bitnexus.web.user_socket import UserSocket, socket_id_for

__all__ = [
    "SOCKET_PATH",
    "Platform",
    "attach_platform",
    "open_database",
    "platform_component",
    "redact_dsn",
    "tokens_from_settings",
]

_log = get_logger("bitnexus.platform")

#: Where the user socket is mounted (``/socket/websocket``, ``/socket/longpoll``).
SOCKET_PATH = "/socket"
_SIGNING_KID = "k1"
_HASHING_THREADS = 2


def tokens_from_settings(auth: AuthSettings) -> Tokens:
    """The access-token issuer/verifier for ``settings.auth``.

    The HS256 key (kid ``"k1"``) is derived from ``secret_key_base`` with
    HMAC-SHA256 and a fixed label, the way Phoenix derives its keys: the same
    base secret also signs long-poll sessions, and no two uses share a key.

    Example::

        tokens = tokens_from_settings(settings.auth)
        token = tokens.issue_access("7", "user")
    """
    key = hmac.new(
        auth.secret_key_base.encode(), b"bitnexus access token " + _SIGNING_KID.encode(),
        hashlib.sha256,
    ).digest()  # fmt: skip
    return Tokens(
        keys=[SigningKey(_SIGNING_KID, key, "HS256")],
        issuer=auth.issuer,
        audience=auth.audience,
        access_ttl=auth.access_ttl,
    )


def redact_dsn(dsn: str) -> str:
    """``dsn`` with its password replaced by ``***``, for logs.

    Example::

        redact_dsn("postgresql://app:s3cret@db:5432/app")   # 'postgresql://app:***@db:5432/app'
    """
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


@contextlib.asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """Open the configured database: ``database.url``, else an embedded server.

    The embedded server (in ``database.data_dir``, resolved against the
    project root) starts here and stops when the block ends, after the pool
    has closed. Which one is used is logged.

    Raises:
        DatabaseUnavailable: the server cannot be reached or started (503).

    Example::

        async with open_database(settings) as db:
            print(await migrate(db))
    """
    conf = settings.database
    async with contextlib.AsyncExitStack() as stack:
        if conf.url:
            dsn = conf.url
            _log.info(f"database: DATABASE_URL {redact_dsn(dsn)}", source="DATABASE_URL")
        else:
            data_dir = settings.resolve_path(conf.data_dir)
            _log.info(
                f"database: no DATABASE_URL; starting embedded PostgreSQL in {data_dir}",
                source="embedded",
                data_dir=str(data_dir),
            )
            embedded = EmbeddedPostgres(Path(data_dir))
            dsn = await embedded.start()
            stack.push_async_callback(embedded.stop)
        db = Database(dsn=dsn, min_size=conf.pool_min, max_size=conf.pool_max)
        await db.start()
        stack.push_async_callback(db.close)
        yield db


class Platform:
    """Everything the platform's HTTP API and socket need, built from settings.

    Nothing runs until the app starts: :meth:`start` (the database
    component) opens the database, and the application tree runs the
    hashers and service pools from :meth:`child_specs`.

    Args:
        settings: the frozen settings.
        hub: the channel hub; service announcements and socket disconnects
            go through it. ``None`` (e.g. to print the route table) announces
            nothing.

    Attributes:
        settings: the settings.
        hub: the hub, or ``None``.
        tokens: issues and verifies access tokens (see :func:`tokens_from_settings`).
        passwords: the argon2 hashing threads.
        accounts: ``ServicePool`` of :class:`~bitnexus.services.AccountsService`.
        products: ``ServicePool`` of :class:`~bitnexus.services.ProductsService`.
        transactions: ``ServicePool`` of :class:`~bitnexus.services.TransactionsService`.
        ip_limiter: ``settings.http.rate_limit_per_ip`` requests a minute per IP.
        user_limiter: ``settings.http.rate_limit_per_user`` requests a minute per user.

    Example::

        platform = Platform(settings)        # not started: enough for `bitnexus routes`
        pair = await platform.accounts.call("login", email=e, password=p)   # once running
    """

    def __init__(self, settings: Settings, hub: Hub | None = None) -> None:
        self.settings = settings
        self.hub = hub
        self.tokens = tokens_from_settings(settings.auth)
        timeout = settings.runtime.call_timeout
        self.passwords = PasswordHashers(
            PasswordHasher(
                time_cost=settings.auth.password_time_cost,
                memory_cost=settings.auth.password_memory_cost,
            ),
            size=_HASHING_THREADS,
            name="bitnexus.passwords",
            timeout=timeout,
        )
        # One worker per pooled connection: more could only wait for one.
        size = settings.database.pool_max
        self.accounts = ServicePool(
            "bitnexus.accounts",
            lambda: AccountsService(
                self._database,
                tokens=self.tokens,
                passwords=self.passwords,
                refresh_ttl=settings.auth.refresh_ttl,
                disconnect=self._disconnect,
            ),
            size=size,
            # A login may queue for a hashing thread, then hash twice (rehash).
            timeout=2 * timeout,
        )
        self.catalogue = CatalogueCache()
        self.products = ServicePool(
            "bitnexus.products",
            lambda: ProductsService(self._database, cache=self.catalogue),
            size=size,
            timeout=timeout,
        )
        self.transactions = ServicePool(
            "bitnexus.transactions",
            lambda: TransactionsService(self._database, notify=self._notify),
            size=size,
            timeout=timeout,
        )
        self.ip_limiter = RateLimiter(limit=settings.http.rate_limit_per_ip)
        self.user_limiter = RateLimiter(limit=settings.http.rate_limit_per_user)
        self._db: Database | None = None
        self._stack: contextlib.AsyncExitStack | None = None

    def __repr__(self) -> str:
        state = self._db.state if self._db is not None else "not started"
        return f"<Platform env={self.settings.env} database={state}>"

    @property
    def db(self) -> Database:
        """The running database.

        Raises:
            Misuse: the platform has not started yet (with an embedded server
                the address is only known once it runs).
        """
        if self._db is None:
            raise Misuse(
                "Platform.db is available once the platform has started "
                "(the app's startup, or await platform.start())"
            )
        return self._db

    def _database(self) -> Database:
        return self.db

    def _notify(self, topic: str, event: str, payload: dict[str, Any]) -> None:
        if self.hub is not None:
            self.hub.broadcast(topic, event, payload)

    def _disconnect(self, user_id: int) -> None:
        if self.hub is not None:
            self.hub.disconnect(socket_id_for(user_id))

    def child_specs(self) -> list[ChildSpec]:
        """The hashing threads, then the accounts, products and transactions pools."""
        return [
            self.passwords.child_spec(),
            self.accounts.child_spec(),
            self.products.child_spec(),
            self.transactions.child_spec(),
        ]

    async def start(self) -> None:
        """Open the database and, when ``database.migrate_on_start``, migrate it.

        Without ``migrate_on_start`` a schema that is behind is only logged
        (run ``bitnexus migrate``).

        Raises:
            DatabaseUnavailable: no database could be reached or started.
            Misuse: already started.
        """
        if self._stack is not None:
            raise Misuse("Platform.start() called twice")
        stack = contextlib.AsyncExitStack()
        try:
            db = await stack.enter_async_context(open_database(self.settings))
            if self.settings.database.migrate_on_start:
                applied = await migrate(db)
                _log.info(
                    f"migrations applied: {', '.join(applied)}" if applied else "schema up to date",
                    applied=applied,
                )
            else:
                behind = await pending(db)
                if behind:
                    _log.warning(
                        "the database schema is behind; run `bitnexus migrate`", pending=behind
                    )
        except BaseException as exc:
            await stack.aclose()
            if isinstance(exc, DatabaseUnavailable):
                _log.error(f"the platform cannot start: {exc}")
            raise
        self._stack = stack
        self._db = db

    async def stop(self) -> None:
        """Close the pool (and stop an embedded server). Safe to call twice."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()
            _log.info("database closed")


async def platform_component(app: web.Application) -> AsyncIterator[None]:
    """The app component that runs :meth:`Platform.start` / :meth:`Platform.stop`."""
    platform = app[PLATFORM_KEY]
    await platform.start()
    try:
        yield
    finally:
        await platform.stop()


def attach_platform(app: web.Application, settings: Settings, hub: Hub) -> list[ChildSpec]:
    """Compose the platform on ``app``; return the child specs for the tree.

    Stores the :class:`Platform` at ``PLATFORM_KEY``, adds
    :func:`platform_component`, mounts :class:`UserSocket` at ``/socket`` and
    installs the HTTP API (``bitnexus.web.api.install_api``).

    Example::

        children += attach_platform(app, settings, hub)
    """
    # Imported here: bitnexus.server imports this module lazily, from build_server.
    from bitnexus.server import mount_options

    platform = Platform(settings, hub)
    app[PLATFORM_KEY] = platform
    add_component(app, platform_component)
    mount_socket(app, SOCKET_PATH, UserSocket(platform), hub, mount_options(settings))
    # Imported here: the API's modules import this one.
    from bitnexus.web.api import install_api

    install_api(app, platform)
    return platform.child_specs()
