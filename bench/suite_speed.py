"""Suite speed: the default conformance suite (embedded server, ws + wss) against the handshake floor.

Measured side by side, alternating, in one run:

* **suite** — ``python -m pytest conformance -q -p no:cacheprovider`` in a fresh process, as a CI job
  runs it: wall time from process start to exit (interpreter, pytest, collection, certificates,
  the reference server, every case, teardown). Run with only pytest and this plugin loaded
  (``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 -p pytest_wsgateway.plugin``), as in a CI environment that
  installs just pytest-wsgateway; the same suite with every plugin of this environment loaded
  (here: hypothesis and xdist from the ``[test]`` extras) is reported too, for reference.
* **floor** — the same raw handshakes in a tight loop, with the same client code, against the same
  server: a recorder plugin notes every ``http1.exchange`` call the suite makes (target, rendered
  request bytes, after-101 steps, timeout) and, after the last test and before the session's
  ``wsgateway_server`` is torn down, replays them back to back (3 passes per round). The recorded
  run itself is not timed.

Ratio = (suite wall / handshakes) / (floor per handshake). Targets: suite wall <= 1.5 s on a
2-core machine; ratio <= 2.

    python bench/suite_speed.py            # full: 5 rounds, writes bench/results/suite_speed.json
    python bench/suite_speed.py --quick    # CI smoke: 1 round, 1 floor pass, results to a temp dir
    python bench/suite_speed.py --profile  # also: one suite run under cProfile, top entries
"""

from __future__ import annotations

import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, median, ms, parser, python, write_results  # noqa: E402

_RECORDER = '''
"""Records every handshake the suite makes; after the last test, before the session's fixtures
(the reference server) are torn down, replays them in a tight loop: the floor."""
import json
import os
import time

import pytest
import pytest_wsgateway.http1 as _http1

_calls = []
_exchange = _http1.exchange  # what Http1Transport.exchange calls


def _recording(target, request, **kwargs):
    _calls.append((target, request, kwargs))
    return _exchange(target, request, **kwargs)


def pytest_configure(config):
    _http1.exchange = _recording


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item, nextitem):
    if nextitem is None:
        _replay()
    yield


def _children_cpu():
    """CPU seconds (user+sys) of this process's live children so far: the reference server when it
    serves from a forked process (wsgateway_suite_server), read from /proc (Linux)."""
    me, ticks = str(os.getpid()), 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == me:  # ppid
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _cpu():
    return time.process_time() + _children_cpu()


def _replay():
    passes = []
    for _ in range(int(os.environ["WSGATEWAY_BENCH_PASSES"])):
        per_scheme, counts = {}, {}
        cpu_start, start = _cpu(), time.perf_counter()
        for target, request, kwargs in _calls:
            t0 = time.perf_counter()
            _exchange(target, request, **kwargs)
            per_scheme[target.scheme] = per_scheme.get(target.scheme, 0.0) + time.perf_counter() - t0
            counts[target.scheme] = counts.get(target.scheme, 0) + 1
        passes.append({"total": time.perf_counter() - start, "cpu": _cpu() - cpu_start,
                       "per_scheme": per_scheme, "counts": counts})
    # the waits the cases make on purpose (the flood's unread pause): in every pass of the floor,
    # overlapped in the suite
    pauses = sum(getattr(payload, "pause", 0.0) for _, _, kwargs in _calls
                 for action, payload in kwargs.get("steps", ()) if action == "flood")
    with open(os.environ["WSGATEWAY_BENCH_FLOOR"], "w") as handle:
        json.dump({"handshakes": len(_calls), "passes": passes, "deliberate_pauses": pauses}, handle)
'''

SUITE_ARGS = ["-m", "pytest", "conformance", "-q", "-p", "no:cacheprovider"]


def _isolated_env(extra: dict | None = None) -> dict:
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", **(extra or {}))
    env.pop("PYTEST_ADDOPTS", None)
    return env


def _children_cpu() -> float:
    """CPU seconds (user+sys) of every reaped child so far; a delta around one run is that run's."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_suite(isolated: bool, extra_args: tuple[str, ...] = (), env_extra: dict | None = None,
              cwd: Path = REPO, args_override: list[str] | None = None) -> dict:
    """One suite run in a fresh process: wall seconds, pytest's own duration, passed/failed counts."""
    args = [python(), *(args_override or SUITE_ARGS), *extra_args]
    if isolated:
        args += ["-p", "pytest_wsgateway.plugin"]
        env = _isolated_env(env_extra)
        for name, value in (env_extra or {}).items():
            if value is None:
                env.pop(name, None)
    else:
        env = dict(os.environ, **(env_extra or {}))
        env.pop("PYTEST_ADDOPTS", None)
    cpu_before = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu_before
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    passed = re.search(r"(\d+) (passed|tests? collected)", tail)
    failed = re.search(r"(\d+) (failed|error)", tail)
    session = re.search(r" in ([\d.]+)s", tail)
    if proc.returncode not in (0, 5):  # 5: no tests collected (the empty project)
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"the suite failed (exit {proc.returncode}): {tail}")
    return {"wall": wall, "cpu": cpu, "session": float(session.group(1)) if session else None,
            "passed": int(passed.group(1)) if passed else 0, "failed": int(failed.group(1)) if failed else 0}


def floor_run(passes: int) -> dict:
    """Run the suite with the recorder plugin: its handshakes, then ``passes`` replays of them."""
    with tempfile.TemporaryDirectory(prefix="wsgateway-bench-") as tmp:
        Path(tmp, "_wsgateway_bench_floor.py").write_text(_RECORDER, encoding="utf-8")
        out = Path(tmp, "floor.json")
        pythonpath = os.pathsep.join(p for p in (tmp, os.environ.get("PYTHONPATH", "")) if p)
        run_suite(True, ("-p", "_wsgateway_bench_floor"),
                  {"WSGATEWAY_BENCH_FLOOR": str(out), "WSGATEWAY_BENCH_PASSES": str(passes),
                   "PYTHONPATH": pythonpath})
        return json.loads(out.read_text())


def profile_once() -> None:
    """One isolated suite run under cProfile; print the heaviest entries (by cumulative time)."""
    import pstats

    with tempfile.TemporaryDirectory(prefix="wsgateway-prof-") as tmp:
        out = os.path.join(tmp, "suite.prof")
        args = [python(), "-m", "cProfile", "-o", out, *SUITE_ARGS, "-p", "pytest_wsgateway.plugin"]
        subprocess.run(args, cwd=REPO, env=_isolated_env(), capture_output=True, timeout=300, check=True)
        stats = pstats.Stats(out)
        print("\n--- profile (cProfile, one isolated suite run; cumulative seconds, inflated by profiling) ---")
        stats.sort_stats("cumulative").print_stats(r"pytest_wsgateway|reference_server|yaml/__init__|trustme", 25)


def main() -> None:
    p = parser(__doc__.splitlines()[0], runs=5)
    p.add_argument("--profile", action="store_true", help="also profile one suite run (cProfile)")
    args = p.parse_args()
    rounds = args.runs or (1 if args.quick else 5)
    floor_passes = 1 if args.quick else 3

    if not args.quick:
        run_suite(True)  # warm-up: bytecode caches, page cache
    floor_runs, suite_runs, venv_runs, handshakes, pauses = [], [], [], 0, 0.0
    bare_runs, collect_runs, cached_runs = [], [], []
    round_ratios, round_cpu_ratios, cached_ratios = [], [], []
    # Python writes no .pyc here: every run compiles (and assertion-rewrites) the suite's modules;
    # also measure the default, bytecode cached in __pycache__ (git-ignored)
    no_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE")) and not args.quick
    if no_bytecode:
        run_suite(True, env_extra={"PYTHONDONTWRITEBYTECODE": None})  # writes the caches
    empty = tempfile.TemporaryDirectory(prefix="wsgateway-empty-")
    Path(empty.name, "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    for index in range(rounds):
        recorded = floor_run(floor_passes)
        handshakes, pauses = recorded["handshakes"], recorded["deliberate_pauses"]
        floor_runs += recorded["passes"]
        suite_runs.append(run_suite(True))
        round_floor = median([run["total"] for run in recorded["passes"]])
        round_ratios.append(suite_runs[-1]["wall"] / round_floor)
        round_cpu_ratios.append(suite_runs[-1]["cpu"] / median([run["cpu"] for run in recorded["passes"]]))
        if not args.quick:
            venv_runs.append(run_suite(False))
            # where the fixed cost goes: pytest alone, and pytest collecting the suite
            bare_runs.append(run_suite(True, ("--collect-only",), cwd=Path(empty.name),
                                       args_override=["-m", "pytest", "-q", "-p", "no:cacheprovider"]))
            collect_runs.append(run_suite(True, ("--collect-only",)))
        if no_bytecode:
            cached_runs.append(run_suite(True, env_extra={"PYTHONDONTWRITEBYTECODE": None}))
            cached_ratios.append(cached_runs[-1]["wall"] / round_floor)
        print(f"round {index + 1}/{rounds}: suite {ms(suite_runs[-1]['wall'])}, floor {ms(round_floor)}, "
              f"ratio {round_ratios[-1]:.2f}x", flush=True)

    empty.cleanup()
    floor_n = handshakes
    floor_total = median([run["total"] for run in floor_runs])
    floor_per = floor_total / floor_n
    floor_per_scheme = {scheme: median([run["per_scheme"][scheme] / run["counts"][scheme] for run in floor_runs])
                        for scheme in ("ws", "wss")}
    suite_wall = median([run["wall"] for run in suite_runs])
    suite_session = median([run["session"] for run in suite_runs])
    per_handshake = suite_wall / handshakes
    # the ratio of each round (suite and floor measured next to each other), then the median:
    # a median of suite walls over a median of floors would mix differently loaded moments
    ratio = median(round_ratios)
    floor_cpu = median([run["cpu"] for run in floor_runs])
    suite_cpu = median([run["cpu"] for run in suite_runs])
    ratio_cpu = median(round_cpu_ratios)
    result = {
        "rounds": rounds,
        "command": "PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python -m pytest conformance -q -p no:cacheprovider "
                   "-p pytest_wsgateway.plugin",
        "tests_passed": suite_runs[-1]["passed"],
        "handshakes": handshakes,
        "suite_wall_s": round(suite_wall, 4),
        "suite_wall_runs_s": [round(run["wall"], 4) for run in suite_runs],
        "suite_session_s": round(suite_session, 4),
        "floor_total_s": round(floor_total, 4),
        "floor_runs_s": [round(run["total"], 4) for run in floor_runs],
        "floor_per_handshake_ms": round(floor_per * 1000, 3),
        "floor_per_handshake_ms_by_scheme": {k: round(v * 1000, 3) for k, v in floor_per_scheme.items()},
        "suite_per_handshake_ms": round(per_handshake * 1000, 3),
        "ratio_suite_to_floor": round(ratio, 3),
        "ratio_suite_to_floor_by_round": [round(r, 3) for r in round_ratios],
        "floor_deliberate_pauses_s": round(pauses, 4),
        "ratio_suite_to_floor_without_pauses": round(suite_wall / (floor_total - pauses), 3),
        "ratio_session_to_floor": round(median([run["session"] for run in suite_runs]) / floor_total, 3),
        "overhead_beyond_floor_s": round(suite_wall - floor_per * handshakes, 4),
        "suite_cpu_s": round(suite_cpu, 4),
        "floor_cpu_s": round(floor_cpu, 4),
        "ratio_cpu_suite_to_floor": round(ratio_cpu, 3),
        "targets": {"suite_wall_s": 1.5, "ratio": 2.0},
    }
    if bare_runs:
        result["pytest_startup_wall_s"] = round(median([run["wall"] for run in bare_runs]), 4)
        result["suite_collect_only_wall_s"] = round(median([run["wall"] for run in collect_runs]), 4)
    if cached_runs:
        result["suite_wall_bytecode_cached_s"] = round(median([run["wall"] for run in cached_runs]), 4)
        result["ratio_bytecode_cached_to_floor"] = round(median(cached_ratios), 3)
    if venv_runs:
        result["suite_wall_all_plugins_s"] = round(median([run["wall"] for run in venv_runs]), 4)
        result["suite_wall_all_plugins_runs_s"] = [round(run["wall"], 4) for run in venv_runs]

    print(f"handshakes: {handshakes}; tests passed: {result['tests_passed']}")
    print(f"suite wall (median of {rounds}): {ms(suite_wall)}  [pytest's own 'in Xs': {ms(suite_session)}]"
          f"  target <= 1500 ms")
    print(f"floor: {ms(floor_total)} for {floor_n} handshakes = {floor_per * 1000:.2f} ms/handshake "
          f"(ws {floor_per_scheme['ws'] * 1000:.2f}, wss {floor_per_scheme['wss'] * 1000:.2f})")
    print(f"suite per handshake: {per_handshake * 1000:.2f} ms")
    print(f"floor without the cases' deliberate pauses ({pauses:g} s): {ms(floor_total - pauses)}; suite / it: "
          f"{result['ratio_suite_to_floor_without_pauses']:.2f}x  target <= 2.00x")
    print(f"ratio suite/floor per handshake: {ratio:.2f}x (median of the rounds' ratios)  target <= 2.00x")
    print(f"CPU time (user+sys, client and server): suite {ms(suite_cpu)}, floor {ms(floor_cpu)} for "
          f"{floor_n} handshakes; ratio per handshake {ratio_cpu:.2f}x")
    if bare_runs:
        print(f"of the suite wall: pytest start-up alone {ms(result['pytest_startup_wall_s'])}, "
              f"start-up + collecting the suite {ms(result['suite_collect_only_wall_s'])}")
    if cached_runs:
        print(f"suite wall with bytecode cached (PYTHONDONTWRITEBYTECODE unset): "
              f"{ms(result['suite_wall_bytecode_cached_s'])}, ratio {result['ratio_bytecode_cached_to_floor']:.2f}x")
    if venv_runs:
        print(f"suite wall with every installed plugin loaded: {ms(result['suite_wall_all_plugins_s'])}")
    write_results("suite_speed", result, args)
    if args.profile:
        profile_once()


if __name__ == "__main__":
    main()
