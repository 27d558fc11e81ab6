"""``bitnexus tree`` against a running server in another process."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bitnexus.platform import tokens_from_settings

from .support import BLOCKER, COUNTER, SPARE, WORKERS, test_settings

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BITNEXUS_")}
    env.pop("SECRET_KEY_BASE", None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log = (tmp_path_factory.mktemp("tree") / "server.log").open("w+b")
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "serve_admin.py"), str(port)],
        env=clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if proc.poll() is not None:
                log.seek(0)
                pytest.fail(f"server exited early: {log.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    pytest.fail("server did not start")
                time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def token(role: str = "admin") -> str:
    return tokens_from_settings(test_settings().auth).issue_access("1", role)


def tree(url: str, *args: str, role: str | None = "admin") -> subprocess.CompletedProcess[str]:
    env = clean_env(BITNEXUS_URL=url)
    if role is not None:
        env["BITNEXUS_TOKEN"] = token(role)
    return subprocess.run(
        [sys.executable, "-m", "bitnexus", "tree", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def indent_of(lines: list[str], name: str) -> int:
    [line] = [ln for ln in lines if re.search(rf"<\d+\.\d+\.0> {re.escape(name)}\s", ln)]
    return len(line) - len(line.lstrip(" "))


def test_tree_prints_the_indented_supervision_tree_of_a_running_server(server_url: str) -> None:
    result = tree(server_url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "PROCESS", "KIND", "STATUS", "MAILBOX", "HANDLED", "RATE/S", "RESTARTS",
    ]  # fmt: skip
    assert indent_of(lines, "bitnexus") == 0
    assert indent_of(lines, WORKERS) == 2
    for child in (COUNTER, SPARE, BLOCKER):
        assert indent_of(lines, child) == 4
    [workers] = [ln for ln in lines if f" {WORKERS} " in ln]
    assert workers.split()[2:] == ["supervisor/one_for_one", "waiting", "0", "1", "0.0", "0"]
    assert re.search(r"^node \d+: \d+ processes, [\d.]+ msg/s$", lines[-1])


def test_tree_shows_a_bounded_number_of_children_per_supervisor(server_url: str) -> None:
    result = tree(server_url, "--children", "1")
    assert result.returncode == 0, result.stderr
    # The root supervisor has five children: one shown, the rest counted.
    assert "\n  ... 4 more\n" in result.stdout


def test_tree_with_a_filter_prints_a_flat_list(server_url: str) -> None:
    result = tree(server_url, "--kind", "supervisor")
    assert result.returncode == 0, result.stderr
    rows = result.stdout.splitlines()[1:-2]
    assert len(rows) == 4
    assert all(row.startswith("<") and "supervisor" in row for row in rows)


def test_tree_explains_a_refused_or_missing_token(server_url: str) -> None:
    refused = tree(server_url, role="user")
    assert refused.returncode == 1
    assert "403" in refused.stderr
    missing = tree(server_url, role=None)
    assert missing.returncode == 1
    assert "BITNEXUS_TOKEN" in missing.stderr
    down = tree(f"http://127.0.0.1:{free_port()}")
    assert down.returncode == 1
    assert "cannot reach" in down.stderr
