"""Drain on shutdown, seen by the official phoenix client: SIGTERM to ``bitnexus serve``
closes every WebSocket with 1012 and a completed close handshake (``wasClean``), so the
client knows to reconnect elsewhere rather than treat it as a network failure (S48)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from js_support import free_port, healthy

JS_DIR = Path(__file__).resolve().parent
pytestmark = pytest.mark.js


def _line(stream: object, deadline: float) -> dict[str, object]:
    line = stream.readline()  # type: ignore[attr-defined]
    if not line or time.monotonic() > deadline:
        raise AssertionError(f"the node client said nothing in time (got {line!r})")
    return json.loads(line)  # type: ignore[no-any-return]


def test_sigterm_closes_the_phoenix_client_with_1012_and_a_clean_close(
    node: str, node_modules: Path, module_database_url: str
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, DATABASE_URL=module_database_url)
    env.pop("BITNEXUS_ENV", None)
    command = [sys.executable, "-m", "bitnexus", "serve", "--env", "test"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryFile(mode="w+") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        client = None
        try:
            deadline = time.monotonic() + 30
            while not healthy(url):
                assert server.poll() is None and time.monotonic() < deadline, "server not up"
                time.sleep(0.1)
            client = subprocess.Popen(
                [node, "drain_client.mjs", f"ws://127.0.0.1:{port}/demo/socket"],
                cwd=JS_DIR,
                stdout=subprocess.PIPE,
                text=True,
            )
            deadline = time.monotonic() + 30
            assert _line(client.stdout, deadline) == {"event": "joined"}
            server.send_signal(signal.SIGTERM)
            closed = _line(client.stdout, deadline)
            assert closed == {
                "event": "closed",
                "code": 1012,
                "wasClean": True,
                "reason": "server shutting down",
            }
            assert server.wait(timeout=15) in (0, -signal.SIGTERM)
        finally:
            for proc in (client, server):
                if proc is not None and proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=5)
