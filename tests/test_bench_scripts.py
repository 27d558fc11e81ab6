"""Smoke tests for the benchmark scripts: they run and report every figure.

No timing is asserted: the machine running the tests is not a benchmark rig.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ACTOR_METRICS = [
    "spawn_us",
    "bytes_per_actor",
    "cast_per_s",
    "call_us",
    "pykka_spawn_us",
    "pykka_bytes_per_actor",
    "pykka_tell_per_s",
    "pykka_ask_us",
    "asyncio_spawn_us",
    "asyncio_bytes_per_actor",
    "asyncio_cast_per_s",
    "asyncio_call_us",
]


def test_bench_actors_quick_prints_json_with_every_metric() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_actors.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    for key in ACTOR_METRICS:
        value = results[key]
        assert isinstance(value, int | float) and not isinstance(value, bool), (key, value)
        assert value > 0, (key, value)
    assert results["loop"] in ("uvloop", "asyncio")
    assert results["quick"] is True
