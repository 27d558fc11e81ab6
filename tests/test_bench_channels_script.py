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
from typing import Any

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
        # The kernel share of fan-out CPU (stime) is part of the total, never more.
        kernel = results[f"{run}_fanout_kernel_us_per_msg"]
        assert _number(kernel) and 0 <= kernel <= results[f"{run}_fanout_cpu_us_per_msg"]
    for key in ("join_s", "bytes_per_channel", "fanout_cpu_us_per_msg", "replies_per_s"):
        assert _number(results["reference"]["phoenix"][key])
        assert _number(results["reference"]["target"][key])


def _script_module(name: str) -> object:
    """Import a module from scripts/ (it is not a package)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(ROOT / "scripts"))


def test_repeated_rounds_report_the_median_and_keep_non_numbers() -> None:
    bench: Any = _script_module("bench_channels")
    merged = bench.merge_rounds(
        {
            "bitnexus_join_s": [2.4, 2.9, 2.5],
            "floor_joined": [5000, 4990, 5000],
            "bitnexus_pinning": ["cpu1", "cpu1", "none"],
        }
    )
    assert merged == {
        "bitnexus_join_s": 2.5,
        "floor_joined": 5000,
        "bitnexus_pinning": "none",
    }


def test_the_table_divides_each_figure_by_the_same_run_floor() -> None:
    support: Any = _script_module("bench_channels_support")
    bench: Any = _script_module("bench_channels")
    results: dict[str, Any] = {
        "reference": bench.REFERENCE,
        "settings": {**bench.QUICK, "transport": "raw"},
        "quick": False,
    }
    for run, join_s, kb in (("bitnexus", 2.31, 18_700), ("floor", 2.1, 14_800)):
        results[f"{run}_join_s"] = join_s
        results[f"{run}_bytes_per_channel"] = kb
    text = support.table(results, ["join_s", "bytes_per_channel"])
    header, join_row, kb_row = text.splitlines()[:3]
    assert header.rstrip().endswith("÷ floor")
    assert join_row.startswith("all N joined (s)") and join_row.rstrip().endswith("1.10")
    assert kb_row.rstrip().endswith("1.26")


def test_repeat_must_be_at_least_one() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--repeat", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and "--repeat must be at least 1" in done.stderr
