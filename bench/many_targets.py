"""Benchmark: one suite run against 1, 4 and 16 targets (reference servers on loopback, ws://).

Each run is a child pytest process (the default concurrent engine, ``--gateway-echo``) that reports
its own peak RSS (VmHWM); the script prints wall time and peak per target count and how wall time
grows with targets. Targets: peak RSS < 150 MB at 16 targets; wall grows sub-linearly.

    python bench/many_targets.py            # 1, 4, 16 targets, 3 rounds, medians
    python bench/many_targets.py --quick    # 1 and 4 targets, one round (a smoke run for CI)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, python, write_results  # noqa: E402

CHILD = """
import sys, pytest
code = pytest.main(sys.argv[1:])
with open("/proc/self/status") as status:
    print("VMHWM_KB", next(line.split()[1] for line in status if line.startswith("VmHWM:")))
sys.exit(int(code))
"""


def run(urls: list[str]) -> tuple[float, float, str]:
    args = [python(), "-c", CHILD, "--pyargs", "pytest_wsgateway.conformance", "-q", "-p", "no:cacheprovider",
            "-p", "no:hypothesispytest", "--gateway-echo", "--gateway-subprotocol=chat",
            *(f"--gateway-url={url}" for url in urls)]
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=os.path.dirname(__file__) or ".")
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"the suite failed against {len(urls)} target(s): {done.stdout[-2000:]}")
    peak = int(done.stdout.rsplit("VMHWM_KB ", 1)[1].split()[0]) / 1024
    lines = [line for line in done.stdout.splitlines() if " passed" in line]
    return wall, peak, lines[-1] if lines else ""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--runs", type=int, default=None)
    p.add_argument("--output", type=Path, default=None)
    args = p.parse_args()
    counts = (1, 4) if args.quick else (1, 4, 16)
    rounds = args.runs or (1 if args.quick else 3)
    from pytest_wsgateway.reference_server import ReferenceServer, ServerConfig

    results: dict[int, dict] = {}
    with contextlib.ExitStack() as stack:
        servers = [stack.enter_context(ReferenceServer(ServerConfig(schemes=("ws",), subprotocols=("chat",))))
                   for _ in range(max(counts))]
        urls = [server.urls["ws"] for server in servers]
        walls: dict[int, list[float]] = {n: [] for n in counts}
        peaks: dict[int, list[float]] = {n: [] for n in counts}
        line = {}
        for _ in range(rounds):
            for n in counts:
                wall, peak, line[n] = run(urls[:n])
                walls[n].append(wall)
                peaks[n].append(peak)
        for n in counts:
            results[n] = {"wall_s": round(median(walls[n]), 2), "peak_rss_mb": round(max(peaks[n]), 1),
                          "last_line": line[n]}
            print(f"{n:>2} target(s): wall {results[n]['wall_s']:5.1f} s, peak RSS {results[n]['peak_rss_mb']:5.1f} MB"
                  f"  ({line[n]})")
    first, last = counts[0], counts[-1]
    growth = results[last]["wall_s"] / results[first]["wall_s"]
    print(f"wall grows {growth:.1f}x for {last}x the targets; peak RSS at {last}: {results[last]['peak_rss_mb']:.0f} MB")
    write_results("many_targets", {"counts": list(counts), "rounds": rounds,
                                   "results": {str(n): r for n, r in results.items()}, "wall_growth": round(growth, 2),
                                   "targets": {"peak_rss_mb": 150, "wall_growth_below": last}}, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
