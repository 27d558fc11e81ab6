"""``bitnexus routes`` prints the API's route table without a server or a database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bitnexus.cli import main
from bitnexus.config import load_settings
from bitnexus.platform import Platform
from bitnexus.web.api import build_router

SRC = Path(__file__).resolve().parents[2] / "src"


def test_routes_prints_method_path_pipeline_and_handler_for_every_route(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["routes", "--env", "test"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["METHOD", "PATH", "PIPELINE", "HANDLER"]
    rows = {tuple(line.split()) for line in lines[1:]}
    router = build_router(Platform(load_settings("test", environ={})))
    assert rows == set(router.table())
    assert (
        "POST",
        "/api/v1/transactions",
        "api,authenticated,json",
        "bitnexus.web.api.transactions.TransactionsController.create",
    ) in rows


def test_routes_needs_no_database(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("BITNEXUS_") and k != "DATABASE_URL"
    }
    # With no DATABASE_URL, starting a database would create this directory.
    env.update(PYTHONPATH=str(SRC), BITNEXUS_DATABASE__DATA_DIR=str(tmp_path / "missing"))
    done = subprocess.run(
        [sys.executable, "-m", "bitnexus", "routes", "--env", "dev"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "/api/v1/products" in done.stdout
    assert not (tmp_path / "missing").exists()
