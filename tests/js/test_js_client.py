"""The official phoenix npm client (1.8.x, under Node) against a real ``bitnexus serve``.

Each ``tests/js/*.test.mjs`` file is one pytest test: it runs under ``node --test`` with
``BITNEXUS_URL`` pointing at a server started here (``--env test``, which mounts the demo
socket at ``/demo/socket``). A failing JS test prints node's output, including the frame
transcript the JS harness records.

The server's database is seeded first (``bitnexus seed``) with an admin whose email and
password are passed to node as ``BITNEXUS_ADMIN_EMAIL`` / ``BITNEXUS_ADMIN_PASSWORD``, for the
platform end-to-end scenarios (``platform_e2e.test.mjs``) that drive the HTTP API and ``/socket``.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from js_support import free_port, healthy

__all__: list[str] = []

JS_DIR = Path(__file__).resolve().parent
JS_FILES = sorted(JS_DIR.glob("*.test.mjs"))
if not JS_FILES:  # a missing suite must fail collection, never pass or skip quietly
    raise RuntimeError(f"no *.test.mjs files in {JS_DIR}")

_NODE_RUN_TIMEOUT = 90.0
_SERVER_START_TIMEOUT = 30.0
_SEED_TIMEOUT = 60.0

pytestmark = pytest.mark.js


@dataclass(frozen=True)
class AdminLogin:
    """The seeded admin's credentials, handed to node."""

    email: str
    password: str


@pytest.fixture(scope="module")
def admin_login() -> AdminLogin:
    # A fresh password per module: nothing outside this run can know it.
    return AdminLogin(email="e2e-admin@example.com", password=secrets.token_urlsafe(18))


def _seed(env: dict[str, str], admin: AdminLogin) -> None:
    """``python -m bitnexus seed --env test`` against ``env["DATABASE_URL"]``."""
    seed_env = dict(env)
    seed_env["BITNEXUS_SEED_ADMIN_EMAIL"] = admin.email
    seed_env["BITNEXUS_SEED_ADMIN_PASSWORD"] = admin.password
    command = [sys.executable, "-m", "bitnexus", "seed", "--env", "test"]
    try:
        done = subprocess.run(
            command,
            env=seed_env,
            capture_output=True,
            text=True,
            timeout=_SEED_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = "\n".join(_text(part) for part in (exc.stdout, exc.stderr))
        pytest.fail(f"bitnexus seed ran over {_SEED_TIMEOUT} s:\n{output}")
    # The admin must be created by this run (a fresh database), or the password is not ours.
    created = [
        line
        for line in done.stdout.splitlines()
        if line.startswith("created admin") and line.endswith(admin.email)
    ]
    if done.returncode != 0 or not created:
        pytest.fail(f"bitnexus seed exited {done.returncode}:\n{done.stdout}\n{done.stderr}")


def _text(output: str | bytes | None) -> str:
    # TimeoutExpired carries undecoded bytes even for text=True runs.
    if isinstance(output, bytes):
        return output.decode("utf-8", "replace")
    return output or ""


@pytest.fixture(scope="module")
def server_url(module_database_url: str, admin_login: AdminLogin) -> Iterator[str]:
    """``python -m bitnexus serve --env test`` on a free port, its database seeded first;
    stopped with SIGTERM."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    env["DATABASE_URL"] = module_database_url  # its own database, never a shared one
    env.pop("BITNEXUS_ENV", None)
    _seed(env, admin_login)
    # A short long-poll window so idle polls and dead sessions show up within the tests' bounds.
    env["BITNEXUS_SOCKET__LONGPOLL_WINDOW"] = "2"
    command = [sys.executable, "-m", "bitnexus", "serve", "--env", "test"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryFile(mode="w+") as log:
        server = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            deadline = time.monotonic() + _SERVER_START_TIMEOUT
            while not healthy(url):
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"bitnexus serve did not become healthy at {url}:\n{log.read()}")
                time.sleep(0.1)
            yield url
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)
        if server.returncode not in (0, -signal.SIGTERM):
            log.seek(0)
            print(f"bitnexus serve exited with {server.returncode}:\n{log.read()}")


@pytest.mark.parametrize("js_file", JS_FILES, ids=[p.stem.removesuffix(".test") for p in JS_FILES])
def test_phoenix_js_client_scenarios_pass_against_the_server(
    js_file: Path, node: str, node_modules: Path, server_url: str, admin_login: AdminLogin
) -> None:
    env = dict(os.environ, BITNEXUS_URL=server_url, NO_COLOR="1")
    env["BITNEXUS_ADMIN_EMAIL"] = admin_login.email
    env["BITNEXUS_ADMIN_PASSWORD"] = admin_login.password
    try:
        done = subprocess.run(
            [node, "--test", "--test-reporter=spec", js_file.name],
            cwd=JS_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=_NODE_RUN_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = "\n".join(_text(part) for part in (exc.stdout, exc.stderr))
        pytest.fail(f"node --test {js_file.name} ran over {_NODE_RUN_TIMEOUT} s:\n{output}")
    if done.returncode != 0:
        output = f"{done.stdout}\n{done.stderr}"
        pytest.fail(f"node --test {js_file.name} exited {done.returncode}:\n{output}")
