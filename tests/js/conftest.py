"""Fixtures for the tests that run the official phoenix client under Node."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

JS_DIR = Path(__file__).resolve().parent
# The same stamp as scripts/test, so the two never reinstall behind each other's back.
_STAMP = JS_DIR / "node_modules" / ".bitnexus-installed"


@pytest.fixture(scope="module")
def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.skip("node is not installed")
    return path


@pytest.fixture(scope="module")
def node_modules(node: str) -> Path:
    """``npm ci`` in tests/js unless node_modules matches the committed lockfile."""
    lock = JS_DIR / "package-lock.json"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()
    if _STAMP.is_file() and _STAMP.read_text().strip() == digest:
        return JS_DIR / "node_modules"
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not installed (needed once to install tests/js dependencies)")
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"npm ci failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    _STAMP.write_text(digest + "\n")
    return JS_DIR / "node_modules"
