"""Smoke test for scripts/bench_http.py: it runs and reports every figure.

No timing is asserted: the machine running the tests is not a benchmark rig.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench_http.py"
FIGURES = [
    f"{who}{scenario}_{figure}"
    for scenario in ("products", "purchases")
    for who in ("", "bare_")
    for figure in ("rps", "p50_ms", "p99_ms")
]


def test_bench_http_quick_prints_json_with_every_figure_and_no_errors() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json", "--duration", "0.3"],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout)
    for key in FIGURES:
        value = results[key]
        assert isinstance(value, int | float) and not isinstance(value, bool), (key, value)
        assert value > 0, (key, value)
    for scenario in ("products", "purchases"):
        assert results[f"{scenario}_errors"] == 0
        assert results[f"bare_{scenario}_errors"] == 0
        assert results[f"{scenario}_ratio"] > 0
    assert results["quick"] is True
    assert results["loop"] in ("uvloop", "asyncio")
