"""A small real server for the admin tests: runtime, channel hub, a supervisor
of test workers, the admin endpoint, and the middlewares the HTTP API installs.

Used in-process (``async with admin_server() as server``) and, for the
``bitnexus tree`` test, as a script (``python tests/admin/serve_admin.py``).
Imports are absolute so both work.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from bitnexus.actors import Actor, From, Node, Pid, Reply
from bitnexus.admin import install_admin
from bitnexus.auth import Tokens
from bitnexus.channels.hub import Hub
from bitnexus.channels.mount import mount_socket
from bitnexus.config import Settings, load_settings
from bitnexus.demo import DemoSocket
from bitnexus.platform import tokens_from_settings
from bitnexus.pubsub import PubSub, PubSubServer
from bitnexus.server import mount_options
from bitnexus.supervision import Application, ChildSpec, Restart, Supervisor
from bitnexus.web.endpoint import build_app
from bitnexus.web.errors import error_middleware
from bitnexus.web.plugs import access_log_middleware, request_id_middleware

SECRET = "admin-tests-secret-" + "s" * 48
WORKERS = "admin_test.workers"
COUNTER = "admin_test.counter"
SPARE = "admin_test.spare"
BLOCKER = "admin_test.blocker"


def test_settings(**changes: Any) -> Settings:
    """Test settings with a fixed secret, independent of the real environment."""
    settings = load_settings("test", environ={"SECRET_KEY_BASE": SECRET})
    return settings.override(changes) if changes else settings


test_settings.__test__ = False  # type: ignore[attr-defined]


class Counter(Actor):
    """Counts casts; the cast ``"crash"`` raises."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_cast(self, message: Any) -> Any:
        if message == "crash":
            raise RuntimeError("boom: crashed on purpose")
        self.count += 1
        return None

    async def handle_call(self, request: Any, from_: From) -> Any:
        return Reply(self.count)

    def summary(self) -> Any:
        return {"count": self.count}


class Blocker(Actor):
    """The cast ``"block"`` waits for :attr:`gate`, so later messages queue up."""

    def __init__(self) -> None:
        self.gate: asyncio.Event | None = None

    async def init(self) -> Any:
        self.gate = asyncio.Event()
        return None

    async def handle_cast(self, message: Any) -> Any:
        if message == "block":
            assert self.gate is not None
            await self.gate.wait()
        return None

    async def handle_info(self, message: Any) -> Any:
        return None


class Watcher(Actor):
    """Links to one pid and monitors another at init."""

    def __init__(self, link_to: Pid[Any], watch: Pid[Any]) -> None:
        self.link_to = link_to
        self.watch = watch

    async def init(self) -> Any:
        self.trap_exit = True
        self.link(self.link_to)
        self.monitor(self.watch)
        return None

    async def handle_info(self, message: Any) -> Any:
        return None


def worker_specs() -> list[ChildSpec]:
    return [
        ChildSpec.for_actor(Counter, id=COUNTER, name=COUNTER),
        ChildSpec.for_actor(Counter, id=SPARE, name=SPARE, restart=Restart.TRANSIENT),
        ChildSpec.for_actor(Blocker, id=BLOCKER, name=BLOCKER, shutdown=0.2),
    ]


def build_test_app(
    settings: Settings, node: Node, *, sample_interval: float = 0.2
) -> tuple[web.Application, Application]:
    """The app and its (unstarted) application tree."""
    app = build_app(settings)
    # What the HTTP API's install_api registers on the real server.
    app.middlewares.extend([request_id_middleware, access_log_middleware, error_middleware])
    pubsub = PubSub(node)
    hub = Hub(node, pubsub)
    children = [
        ChildSpec.for_actor(PubSubServer, pubsub, id="pubsub", name="bitnexus.pubsub"),
        *hub.child_specs(),
        ChildSpec.for_actor(
            Supervisor, worker_specs(), id=WORKERS, name=WORKERS, max_restarts=100, max_seconds=1
        ),
        *install_admin(app, node, pubsub, settings, sample_interval=sample_interval),
    ]
    application = Application(children, node=node, shutdown_timeout=5.0)
    # Real channel and connection processes for the detail view.
    options = mount_options(settings, check_origin=False)
    mount_socket(app, "/demo/socket", DemoSocket(), hub, options)
    return app, application


@dataclass
class AdminServer:
    __test__ = False

    url: str
    node: Node
    app: web.Application
    tokens: Tokens
    session: aiohttp.ClientSession

    def token(self, role: str = "admin", user_id: str = "1") -> str:
        return self.tokens.issue_access(user_id, role)

    def auth(self, role: str = "admin", user_id: str = "1") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, user_id)}"}

    async def get(self, path: str, role: str | None = "admin", **kw: Any) -> Any:
        headers = self.auth(role) if role else {}
        async with self.session.get(self.url + path, headers=headers, **kw) as resp:
            return resp.status, await resp.json()

    async def post(self, path: str, body: Any = None, role: str | None = "admin") -> Any:
        headers = self.auth(role) if role else {}
        async with self.session.post(self.url + path, json=body, headers=headers) as resp:
            return resp.status, await resp.json()

    def pid_of(self, name: str) -> Pid[Any]:
        pid = self.node.whereis(name)
        assert pid is not None, f"{name} is not running"
        return pid


@contextlib.asynccontextmanager
async def admin_server(**settings_changes: Any) -> AsyncIterator[AdminServer]:
    """A running server on 127.0.0.1 with the admin endpoint and test workers."""
    settings = test_settings(**settings_changes)
    node = Node()
    app, application = build_test_app(settings, node)
    await application.start()
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session:
            yield AdminServer(
                f"http://127.0.0.1:{port}", node, app, tokens_from_settings(settings.auth), session
            )
    finally:
        await runner.cleanup()
        await application.stop()
        await node.shutdown(timeout=1.0)


async def wait_until(predicate: Any, timeout: float = 2.0, interval: float = 0.01) -> None:
    """Poll ``predicate()`` until true, or fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)
