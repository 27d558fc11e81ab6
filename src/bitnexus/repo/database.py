"""The PostgreSQL connection pool, and an embedded server when there is none.

:class:`Database` owns one asyncpg pool with an explicit lifecycle
(new → starting → running → closing → closed). Query functions in
:mod:`bitnexus.repo.queries` take an :data:`Executor`: the ``Database`` itself
(each call borrows a pooled connection) or a connection you already hold
(to run several calls in one transaction).

When the server cannot be reached, every entry point raises
:class:`DatabaseUnavailable` (HTTP 503) instead of asyncpg's or the socket
layer's own exceptions.

Example::

    async with Database(dsn="postgresql://postgres@127.0.0.1/app") as db:
        async with db.transaction() as conn:
            await conn.execute("UPDATE users SET display_name = $1 WHERE id = $2", "Ada", 1)

:class:`EmbeddedPostgres` runs a private server from the ``pgserver`` wheel
when no ``DATABASE_URL`` is configured; :func:`resolve_dsn` picks one or the
other.

Running as root: PostgreSQL refuses to run as root. pgserver (0.1.4) handles
that itself: it creates a system user ``pgserver`` with ``useradd`` (once),
chowns the data directory to it, makes the data directory's parent folders
and its own binaries world-traversable (``chmod o+rx``), and runs ``initdb``
and ``pg_ctl`` as that user. The server then listens on a Unix socket inside
the data directory only (no TCP port), so it never clashes with another
server. Keep the data directory somewhere whose parents may be made
traversable and stay so: not under a private home directory, nor under
pytest's ``tmp_path`` (each new pytest session resets ``/tmp/pytest-of-root``
to mode 0700, locking the ``pgserver`` user out of a running server).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import enum
import os
import shutil
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import asyncpg
import structlog

from bitnexus.exceptions import ConfigError, Misuse, Refused

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

__all__ = [
    "Database",
    "DatabaseStatistics",
    "DatabaseUnavailable",
    "EmbeddedPostgres",
    "Executor",
    "embedded_dsn",
    "in_transaction",
    "resolve_dsn",
    "using",
]

log = structlog.get_logger("bitnexus.repo")

#: What query functions accept: the pool, or a connection already held.
Executor: TypeAlias = "Database | asyncpg.Connection[Any] | PoolConnectionProxy[Any]"


class DatabaseUnavailable(Refused):
    """PostgreSQL cannot be reached, refused the connection, or went away.

    Raised instead of ``OSError``, ``TimeoutError`` and asyncpg's connection
    errors. The request may succeed later; answer 503.
    """

    status = 503


# Errors that mean "the server is not there (any more)", not "the query is wrong".
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08, incl. ConnectionDoesNotExistError
    asyncpg.exceptions.OperatorInterventionError,  # 57: shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # 53: too many connections
)
# Only fatal while connecting: a wrong database name or credentials.
_UNAVAILABLE_ON_CONNECT: tuple[type[BaseException], ...] = (
    asyncpg.InvalidCatalogNameError,
    asyncpg.InvalidAuthorizationSpecificationError,
)
# asyncpg reports a closed pool or connection as a bare InterfaceError. Inside
# an acquire() block, "released back to the pool" means the connection died
# under us (asyncpg detaches a closed connection from its proxy).
_CLOSED_MARKERS = (
    "pool is closing",
    "pool is closed",
    "connection is closed",
    "released back to the pool",
)


@contextlib.contextmanager
def _translating(*, connecting: bool = False) -> Iterator[None]:
    """Re-raise connection-level failures as :class:`DatabaseUnavailable`."""
    try:
        yield
    except _UNAVAILABLE as exc:
        raise DatabaseUnavailable(f"database unavailable: {_describe(exc)}") from exc
    except _UNAVAILABLE_ON_CONNECT as exc:
        if not connecting:
            raise
        raise DatabaseUnavailable(f"cannot connect to the database: {_describe(exc)}") from exc
    except asyncpg.InterfaceError as exc:
        if not any(marker in str(exc) for marker in _CLOSED_MARKERS):
            raise
        raise DatabaseUnavailable(f"database unavailable: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _State(enum.Enum):
    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class DatabaseStatistics:
    """A snapshot of a :class:`Database` for the admin view and the CLI.

    Attributes:
        state: ``"new"``, ``"starting"``, ``"running"``, ``"closing"`` or ``"closed"``.
        size: open connections, busy or idle.
        idle: open connections not lent out.
        min_size: the pool's configured minimum.
        max_size: the pool's configured maximum.
    """

    state: str
    size: int
    idle: int
    min_size: int
    max_size: int


class Database:
    """An asyncpg pool with an explicit lifecycle.

    Args:
        dsn: ``postgresql://user:password@host:port/database`` (a ``?host=/dir``
            query selects a Unix socket directory).
        min_size: connections opened at start and kept open. Default 1.
        max_size: most connections open at once. Default 10.
        command_timeout: seconds a single query may run before it fails with
            :class:`DatabaseUnavailable`; ``None`` for no limit. Default 30.
        connect_timeout: seconds to wait for a new connection. Default 10.
        close_timeout: seconds :meth:`close` waits for borrowed connections
            to come back before it terminates them. Default 10.

    Raises:
        ConfigError: a size or timeout is out of range.

    Example::

        db = Database(dsn=dsn, max_size=20)
        await db.start()
        try:
            async with db.acquire() as conn:
                count = await conn.fetchval("SELECT count(*) FROM users")
        finally:
            await db.close()
    """

    def __init__(
        self,
        *,
        dsn: str,
        min_size: int = 1,
        max_size: int = 10,
        command_timeout: float | None = 30.0,
        connect_timeout: float = 10.0,
        close_timeout: float = 10.0,
    ) -> None:
        if not isinstance(dsn, str) or not dsn:
            raise ConfigError("Database(dsn=...) must be a non-empty connection string")
        if min_size < 0 or max_size < 1 or min_size > max_size:
            raise ConfigError(
                f"Database pool sizes need 0 <= min_size <= max_size and max_size >= 1; "
                f"got min_size={min_size}, max_size={max_size}"
            )
        for name, value in (("connect_timeout", connect_timeout), ("close_timeout", close_timeout)):
            if value <= 0:
                raise ConfigError(f"Database({name}=...) must be positive; got {value}")
        if command_timeout is not None and command_timeout <= 0:
            raise ConfigError(
                f"Database(command_timeout=...) must be positive; got {command_timeout}"
            )
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._command_timeout = command_timeout
        self._connect_timeout = connect_timeout
        self._close_timeout = close_timeout
        self._state = _State.NEW
        self._pool: asyncpg.Pool[Any] | None = None
        self._closed = asyncio.Event()

    def __repr__(self) -> str:
        return f"<Database {self._state.value} max_size={self._max_size}>"

    @property
    def state(self) -> str:
        """``"new"``, ``"starting"``, ``"running"``, ``"closing"`` or ``"closed"``."""
        return self._state.value

    def statistics(self) -> DatabaseStatistics:
        """Return a frozen snapshot of the pool's state and size."""
        pool = self._pool
        running = pool is not None and self._state is _State.RUNNING
        return DatabaseStatistics(
            state=self._state.value,
            size=pool.get_size() if running and pool else 0,
            idle=pool.get_idle_size() if running and pool else 0,
            min_size=self._min_size,
            max_size=self._max_size,
        )

    def _check_state(self, operation: str) -> asyncpg.Pool[Any]:
        """Return the pool, or raise :class:`Misuse` naming what is wrong."""
        if self._state is _State.RUNNING and self._pool is not None:
            return self._pool
        advice = {
            _State.NEW: "before start(); await db.start() or use 'async with Database(...)'",
            _State.STARTING: "while start() is still connecting; await start() first",
            _State.CLOSING: "while the database is closing",
            _State.CLOSED: "after close(); create a new Database",
        }[self._state]
        raise Misuse(f"Database.{operation} called {advice}")

    async def start(self) -> Database:
        """Open the pool and check that the server answers.

        Returns:
            This database, so ``db = await Database(dsn=...).start()`` works.

        Raises:
            DatabaseUnavailable: the server cannot be reached or refused us.
                The database stays ``new`` and ``start()`` may be retried.
            Misuse: the database was already started or closed.
        """
        if self._state is not _State.NEW:
            raise Misuse(
                f"Database.start() called on a database that is {self._state.value}; "
                "start() may run once"
            )
        self._state = _State.STARTING
        pool: asyncpg.Pool[Any] | None = None
        try:
            with _translating(connecting=True):
                pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=self._min_size,
                    max_size=self._max_size,
                    command_timeout=self._command_timeout,
                    timeout=self._connect_timeout,
                )
                # With min_size=0 nothing has connected yet; fail now, not on first use.
                async with pool.acquire(timeout=self._connect_timeout) as conn:
                    await conn.fetchval("SELECT 1")
        except BaseException:
            if pool is not None:
                pool.terminate()
            self._state = _State.NEW
            raise
        self._pool = pool
        self._state = _State.RUNNING
        return self

    async def close(self) -> None:
        """Close the pool gracefully; terminate it if that takes too long.

        Waits up to ``close_timeout`` for borrowed connections to be released,
        then closes every connection. On timeout, error or cancellation the
        pool is terminated (connections dropped at once) and a warning is
        logged. Closing twice, or closing a database never started, is fine.
        """
        if self._state is _State.CLOSED:
            return
        if self._state is _State.CLOSING:
            await self._closed.wait()
            return
        if self._state is _State.STARTING:
            raise Misuse("Database.close() called while start() is still connecting")
        pool, self._pool = self._pool, None
        self._state = _State.CLOSING
        try:
            if pool is not None:
                # No shield: pool.close() terminates the pool itself when
                # cancelled, which is exactly the fallback we want.
                await asyncio.wait_for(pool.close(), self._close_timeout)
        except (Exception, asyncio.CancelledError) as exc:
            log.warning(
                "database pool did not close gracefully; terminated it",
                timeout=self._close_timeout,
                error=_describe(exc),
            )
            if pool is not None:
                pool.terminate()
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self._state = _State.CLOSED
            self._closed.set()

    def terminate(self) -> None:
        """Drop every connection at once, without waiting for borrowers."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()
        self._state = _State.CLOSED
        self._closed.set()

    async def __aenter__(self) -> Database:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @contextlib.asynccontextmanager
    async def acquire(
        self, *, timeout: float | None = None
    ) -> AsyncIterator[PoolConnectionProxy[Any]]:
        """Borrow a connection for the duration of an ``async with`` block.

        Connection failures inside the block leave it as
        :class:`DatabaseUnavailable`; other errors pass through unchanged.

        Args:
            timeout: seconds to wait for a free connection; ``None`` waits as
                long as it takes.

        Raises:
            DatabaseUnavailable: no connection could be had, or it broke.
            Misuse: the database is not running.

        Example::

            async with db.acquire() as conn:
                rows = await conn.fetch("SELECT id FROM products WHERE active")
        """
        pool = self._check_state("acquire()")
        with _translating():
            async with pool.acquire(timeout=timeout) as conn:
                yield conn

    @contextlib.asynccontextmanager
    async def transaction(
        self,
        *,
        isolation: Literal["read_committed", "repeatable_read", "serializable"] | None = None,
    ) -> AsyncIterator[PoolConnectionProxy[Any]]:
        """Borrow a connection and run the block in one transaction.

        The transaction commits when the block ends normally and rolls back
        when it raises.

        Args:
            isolation: the isolation level; the server default (read
                committed) when ``None``.

        Example::

            async with db.transaction() as conn:
                await conn.execute("UPDATE users SET balance_minor = 0 WHERE id = $1", 7)
        """
        self._check_state("transaction()")
        async with self.acquire() as conn, conn.transaction(isolation=isolation):
            yield conn


@contextlib.asynccontextmanager
async def using(executor: Executor) -> AsyncIterator[Any]:
    """Yield a connection: a pooled one for a :class:`Database`, else ``executor`` itself.

    Example::

        async with using(conn_or_db) as conn:
            await conn.fetchrow("SELECT 1")
    """
    if isinstance(executor, Database):
        async with executor.acquire() as conn:
            yield conn
    else:
        with _translating():
            yield executor


@contextlib.asynccontextmanager
async def in_transaction(executor: Executor) -> AsyncIterator[Any]:
    """Yield a connection inside a transaction (a savepoint if one is already open).

    Example::

        async with in_transaction(conn_or_db) as conn:
            await conn.execute("DELETE FROM refresh_tokens WHERE user_id = $1", 1)
    """
    async with using(executor) as conn, conn.transaction():
        yield conn


class _EmbeddedState(enum.Enum):
    NEW = "new"
    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"


def _import_pgserver() -> Any:
    # pgserver computes its lock directory at import; without XDG_RUNTIME_DIR
    # (containers, CI) platformdirs warns and falls back to /tmp/runtime-<uid>,
    # which is fine. Don't let that warning fail a run with warnings as errors.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        import pgserver
    return pgserver


class EmbeddedPostgres:
    """A private PostgreSQL server (the ``pgserver`` wheel) in a data directory.

    The first start runs ``initdb`` in ``data_dir`` (which becomes PGDATA);
    later starts reuse the data. The server listens on a Unix socket in the
    data directory only. Use one handle per data directory per process.

    Args:
        data_dir: the PGDATA directory; created with its parents if missing.
        cleanup_mode: ``"stop"`` keeps the data when stopped (default);
            ``"delete"`` removes the directory too (for throw-away servers).

    Example::

        async with EmbeddedPostgres(Path(".bitnexus/pgdata")) as pg:
            async with Database(dsn=pg.dsn) as db:
                ...
    """

    def __init__(self, data_dir: Path, *, cleanup_mode: Literal["stop", "delete"] = "stop") -> None:
        if cleanup_mode not in ("stop", "delete"):
            raise ConfigError(f"cleanup_mode must be 'stop' or 'delete'; got {cleanup_mode!r}")
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.cleanup_mode = cleanup_mode
        self._state = _EmbeddedState.NEW
        self._server: Any = None
        self._dsn: str | None = None

    def __repr__(self) -> str:
        return f"<EmbeddedPostgres {self._state.value} {self.data_dir}>"

    @property
    def dsn(self) -> str:
        """The connection string of the running server (database ``postgres``)."""
        if self._state is not _EmbeddedState.RUNNING or self._dsn is None:
            raise Misuse(f"EmbeddedPostgres.dsn read while the server is {self._state.value}")
        return self._dsn

    async def start(self) -> str:
        """Initialise the data directory if needed and start the server.

        Returns:
            The server's DSN.

        Raises:
            DatabaseUnavailable: the server could not be initialised or started.
            Misuse: the server was already started.
        """
        if self._state is not _EmbeddedState.NEW:
            raise Misuse(
                f"EmbeddedPostgres.start() called on a server that is {self._state.value}; "
                "start() may run once"
            )
        self._state = _EmbeddedState.STARTING
        try:
            pgserver = _import_pgserver()
            # initdb and pg_ctl are blocking subprocesses: keep them off the loop.
            self._server = await asyncio.to_thread(self._start_blocking, pgserver)
        except BaseException:
            self._state = _EmbeddedState.NEW
            raise
        self._dsn = self._server.get_uri()
        self._state = _EmbeddedState.RUNNING
        log.info(f"embedded PostgreSQL started in {self.data_dir}", data_dir=str(self.data_dir))
        return self._dsn

    def _start_blocking(self, pgserver: Any) -> Any:
        if os.name == "posix" and os.geteuid() == 0 and shutil.which("useradd") is None:
            import pwd

            try:
                pwd.getpwnam("pgserver")
            except KeyError:
                raise DatabaseUnavailable(
                    "embedded PostgreSQL cannot run as root without a 'pgserver' system user "
                    "and no 'useradd' is available to create one; create the user, run as "
                    "another user, or set DATABASE_URL"
                ) from None
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            return pgserver.get_server(self.data_dir, cleanup_mode=self.cleanup_mode)
        except Exception as exc:
            log_file = self.data_dir / "log"
            tail = log_file.read_text(errors="replace")[-2000:] if log_file.exists() else ""
            raise DatabaseUnavailable(
                f"embedded PostgreSQL failed to start in {self.data_dir}: {_describe(exc)}"
                + (f"\n--- server log (tail) ---\n{tail}" if tail else "")
            ) from exc

    async def stop(self) -> None:
        """Stop the server (and delete its data with ``cleanup_mode="delete"``).

        Stopping twice, or stopping a server never started, does nothing.
        """
        if self._state is _EmbeddedState.STARTING:
            raise Misuse("EmbeddedPostgres.stop() called while start() is still running")
        server, self._server = self._server, None
        self._state = _EmbeddedState.STOPPED
        if server is None:
            return
        # Finish even if our caller is cancelled: a half-stopped server keeps
        # its socket and lock files and blocks the next start.
        await asyncio.shield(asyncio.to_thread(self._stop_blocking, server))
        log.info(f"embedded PostgreSQL stopped in {self.data_dir}", data_dir=str(self.data_dir))

    @staticmethod
    def _stop_blocking(server: Any) -> None:
        server.cleanup()
        # pgserver registers its own exit hook; once stopped we no longer want it.
        atexit.unregister(server._cleanup)

    async def __aenter__(self) -> EmbeddedPostgres:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


async def embedded_dsn(data_dir: Path) -> str:
    """Start an embedded server in ``data_dir`` and return its DSN.

    The server stops when the interpreter exits. Prefer :class:`EmbeddedPostgres`
    when you control the lifetime.

    Example::

        dsn = await embedded_dsn(Path(".bitnexus/pgdata"))
    """
    return await EmbeddedPostgres(data_dir).start()


async def resolve_dsn(
    database_url: str | None, data_dir: Path
) -> tuple[str, EmbeddedPostgres | None]:
    """Use ``database_url`` when set, else start an embedded server in ``data_dir``.

    Returns:
        ``(dsn, handle)``: ``handle`` is the started :class:`EmbeddedPostgres`
        (stop it on shutdown), or ``None`` when ``database_url`` was used.

    Example::

        dsn, embedded = await resolve_dsn(os.environ.get("DATABASE_URL"), Path(".bitnexus/pgdata"))
        try:
            ...
        finally:
            if embedded is not None:
                await embedded.stop()
    """
    if database_url:
        return database_url, None
    embedded = EmbeddedPostgres(data_dir)
    return await embedded.start(), embedded
