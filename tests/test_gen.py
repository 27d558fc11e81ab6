"""`bitnexus gen channel`: the generated channel and test run as they are."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bitnexus.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_a_generated_channel_passes_its_generated_tests(tmp_path: Path) -> None:
    code = main(
        [
            "gen",
            "channel",
            "GameRoom",
            "--dir",
            str(tmp_path / "app"),
            "--tests",
            str(tmp_path / "tests"),
        ]
    )
    assert code == 0
    assert (tmp_path / "app" / "game_room_channel.py").exists()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tmp_path / "app"), str(ROOT / "src")]))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            str(ROOT / "pyproject.toml"),
            "--rootdir",
            str(tmp_path),
            str(tmp_path / "tests"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout


def test_generating_over_an_existing_channel_is_refused(tmp_path: Path, capsys) -> None:
    args = ["gen", "channel", "Chat", "--dir", str(tmp_path), "--tests", str(tmp_path)]
    assert main(args) == 0
    assert main(args) == 1
    assert "already exists" in capsys.readouterr().err


def test_a_name_that_is_not_a_class_name_is_refused(tmp_path: Path, capsys) -> None:
    assert main(["gen", "channel", "chat room", "--dir", str(tmp_path)]) == 1
    assert "class name" in capsys.readouterr().err
