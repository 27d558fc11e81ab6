from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bitnexus import __version__
from bitnexus.cli import main

SRC = Path(__file__).resolve().parents[1] / "src"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(**extra: str) -> dict[str, str]:
    """The current environment minus anything that would change the settings under test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BITNEXUS_")}
    for name in ("PORT", "SECRET_KEY_BASE"):
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


def wait_for_healthz(proc: subprocess.Popen[bytes], port: int) -> dict[str, object]:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited early with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Type"].startswith("application/json")
                return dict(json.loads(resp.read()))
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    pytest.fail(f"/healthz did not answer within {START_TIMEOUT}s")


def wait_for_banner(proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited early with code {proc.returncode}")
        if b"BitNexus listening on" in log.read_bytes():
            return
        time.sleep(0.05)
    pytest.fail(f"no 'listening' banner within {START_TIMEOUT}s:\n{log.read_text()}")


def test_serve_answers_healthz_and_exits_cleanly_on_sigterm(
    tmp_path: Path, database_url: str
) -> None:
    port = free_port()
    out, err = (tmp_path / "stdout").open("w+b"), (tmp_path / "stderr").open("w+b")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bitnexus", "serve", "--env", "test", "--port", str(port)],
        env=server_env(DATABASE_URL=database_url),
        stdout=out,
        stderr=err,
    )
    try:
        assert wait_for_healthz(proc, port) == {"status": "ok", "version": __version__}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=STOP_TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out.seek(0)
    assert f"BitNexus listening on http://127.0.0.1:{port}" in out.read().decode()


def test_serve_warns_when_the_secret_was_generated(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    err = (tmp_path / "stderr").open("w+b")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bitnexus", "serve", "--env", "dev", "--port", str(port)],
        env=server_env(BITNEXUS_LOG__FORMAT="json", DATABASE_URL=database_url),
        stdout=subprocess.DEVNULL,
        stderr=err,
    )
    try:
        wait_for_healthz(proc, port)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=STOP_TIMEOUT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err.seek(0)
    events = [json.loads(line) for line in err.read().decode().splitlines() if line.startswith("{")]
    warning = next(e for e in events if e["event"] == "secret_key_base_generated")
    assert warning["level"] == "warning"


def test_serve_in_prod_without_secret_exits_with_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("SECRET_KEY_BASE", raising=False)
    monkeypatch.delenv("BITNEXUS_AUTH__SECRET_KEY_BASE", raising=False)
    assert main(["serve", "--env", "prod"]) == 2
    assert "SECRET_KEY_BASE" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_two_servers_share_one_port_with_reuse_port(tmp_path: Path, database_url: str) -> None:
    port = free_port()
    procs = []
    try:
        for index in range(2):
            log = (tmp_path / f"server{index}.log").open("w+b")
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bitnexus", "serve", "--env", "test",
                     "--port", str(port), "--reuse-port"],
                    env=server_env(DATABASE_URL=database_url),
                    stdout=log,
                    stderr=log,
                )
            )
        for proc in procs:
            wait_for_healthz(proc, port)
        # Either process may answer /healthz on a shared port, so wait for each
        # one's own banner too: it is printed once aiohttp handles SIGTERM.
        for index, proc in enumerate(procs):
            wait_for_banner(proc, tmp_path / f"server{index}.log")
        assert all(proc.poll() is None for proc in procs)  # the second bind did not fail
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                assert proc.wait(timeout=STOP_TIMEOUT) == 0
            finally:
                if proc.poll() is None:
                    proc.kill()
