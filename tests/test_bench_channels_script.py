"""Smoke test for scripts/bench_channels.py: it runs and reports every figure.

No timing is asserted: the machine running the tests is not a benchmark rig.
The run starts ``bitnexus serve --env test`` (``DATABASE_URL`` when set) and
the bare aiohttp floor, and drives both with the Node client.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "bench_channels.py"
RUNS = ("bitnexus", "floor")
METRICS = (
    "join_s",
    "bytes_per_channel",
    "fanout_p50_ms",
    "fanout_p99_ms",
    "fanout_cpu_us_per_msg",
    "replies_per_s",
    "ping_p50_ms",
    "ping_p99_ms",
)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@pytest.mark.timeout(180)
def test_bench_channels_quick_prints_json_with_every_figure_for_bitnexus_and_the_floor() -> None:
    if shutil.which("node") is None:
        pytest.skip("node is not installed (the benchmark's load client runs under Node)")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=170,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(done.stdout)
    assert results["quick"] is True
    assert results["presence"] is False
    for run in RUNS:
        for metric in METRICS:
            key = f"{run}_{metric}"
            assert _number(results.get(key)) and results[key] > 0, (key, results.get(key))
        assert results[f"{run}_joined"] == results["settings"]["clients"]
        assert results[f"{run}_fanout_delivered"] == results[f"{run}_fanout_expected"]
        assert results[f"{run}_ping_replies"] > 0
    for key in ("join_s", "bytes_per_channel", "fanout_cpu_us_per_msg", "replies_per_s"):
        assert _number(results["reference"]["phoenix"][key])
        assert _number(results["reference"]["target"][key])
