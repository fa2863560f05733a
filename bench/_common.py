"""Shared helpers for the benchmark scripts: machine description, medians, result files.

Each bench script measures its subject and its baseline side by side in one run (alternating,
so a noisy neighbour hurts both alike) and prints ratios. Full runs write
``bench/results/<name>.json`` (committed, rendered into docs/performance.md by bench/render.py);
``--quick`` runs (CI smoke) write to a temporary directory, never over the committed results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"


def machine() -> dict:
    """nproc, CPU model, Python version, OS: enough to judge whether figures are comparable."""
    model = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = None
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": model or platform.processor() or "unknown",
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "load_average_1min_at_start": round(load, 2) if load is not None else None,
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
    }


def median(values) -> float:
    return statistics.median(values)


def parser(description: str, runs: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true",
                   help="a few-seconds smoke run (for CI): fewer repetitions, results to a temp dir")
    p.add_argument("--runs", type=int, default=None, help=f"repetitions (default {runs}; --quick: fewer)")
    p.add_argument("--output", type=Path, default=None,
                   help="where to write the JSON (default bench/results/, or a temp dir with --quick)")
    return p


def write_results(name: str, data: dict, args: argparse.Namespace) -> Path:
    if args.output is not None:
        path = args.output
    elif args.quick:
        path = Path(tempfile.gettempdir()) / "wsgateway-bench-quick" / f"{name}.json"
    else:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        path = RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"benchmark": name, "quick": bool(args.quick), "recorded": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "machine": machine(), **data}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    print(f"results: {path}")
    return path


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def python() -> str:
    return sys.executable
