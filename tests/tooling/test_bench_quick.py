"""The benchmarks keep working: each bench script's ``--quick`` mode exits 0 and prints its ratios.

No timing is asserted here (speed targets live in bench/ and docs/performance.md, never in tests):
only that each script runs end to end, prints its ratio lines and writes a JSON with the
expected keys to the place it was told (never over the committed bench/results/).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

SCRIPTS = {
    "suite_speed.py": (["ratio suite/floor per handshake:", "suite wall (median of", "floor:"],
                       ["ratio_suite_to_floor", "suite_wall_s", "floor_per_handshake_ms", "handshakes"]),
    "plugin_startup.py": (["added by the plugin:", "ratio enabled/disabled:"],
                          ["added_ms_median_of_paired_differences", "enabled_median_ms", "disabled_median_ms"]),
    "server_throughput.py": (["ws sequential:", "ws 50 concurrent:", "ratio", "held"],
                             ["throughput", "hold"]),
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_quick_mode_runs_and_prints_its_ratios(script: str, tmp_path: Path) -> None:
    if not (BENCH / script).exists():
        pytest.skip("bench/ is not part of this installation")
    output = tmp_path / "result.json"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")}
    proc = subprocess.run([sys.executable, str(BENCH / script), "--quick", "--output", str(output)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines, keys = SCRIPTS[script]
    for line in lines:
        assert line in proc.stdout, f"{script} --quick did not print {line!r}:\n{proc.stdout}"
    data = json.loads(output.read_text(encoding="utf-8"))
    assert data["quick"] is True
    assert data["machine"]["nproc"]
    for key in keys:
        assert key in data, f"{script}: no {key!r} in the JSON"
