"""Plugin start-up cost: what loading pytest-wsgateway adds to a pytest run that never uses it.

``pytest --collect-only`` of a trivial project (one test file), many alternating runs:

* **enabled** — the plugin loaded through its ``pytest11`` entry point, as in every pytest run of an
  environment where pytest-wsgateway is installed;
* **disabled** — the same command with ``-p no:wsgateway``.

Both arms also pass ``-p no:<name>`` for every *other* installed plugin (here hypothesis and
xdist from the ``[test]`` extras: hypothesis alone costs ~1 s per run and its jitter would bury
a few milliseconds), so the difference is this plugin only; the entry-point scan is the same in
both arms. Reported: median of each arm, the median of the paired differences (enabled minus the
disabled run next to it), and -- as a cross-check in one process -- ``-X importtime`` of
``pytest_wsgateway.plugin`` after ``import pytest``. Target: <= 10 ms added.

Where ``PYTHONDONTWRITEBYTECODE`` is set (as in many CI images), Python writes no ``.pyc`` files
and pytest cannot cache the assertion-rewritten plugin modules, so every run compiles them from
source; the full run then also measures the default (bytecode cached) for comparison.

    python bench/plugin_startup.py           # full: 40 pairs, writes bench/results/plugin_startup.json
    python bench/plugin_startup.py --quick   # CI smoke: 3 pairs, results to a temp dir
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, median, parser, python, write_results  # noqa: E402

OURS = "wsgateway"


def other_plugins() -> list[str]:
    """Entry-point names of every installed pytest11 plugin except this one."""
    from importlib.metadata import entry_points

    return sorted({ep.name for ep in entry_points(group="pytest11") if ep.name != OURS})


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def one_run(project: str, args: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds user+sys) of one ``pytest --collect-only`` process.

    CPU time is the RUSAGE_CHILDREN delta around the run (runs are sequential and reaped, so the
    delta is this child's); it is far less disturbed by other load on the machine than wall time.
    """
    cpu_before = _children_cpu()
    start = time.perf_counter()
    proc = subprocess.run([python(), "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                          cwd=project, env=env, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu_before
    if proc.returncode != 0:
        raise SystemExit(f"pytest --collect-only failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return wall, cpu


def import_cost(env: dict) -> float:
    """Self-reported ``-X importtime`` of the plugin module (cumulative µs -> s) after pytest is imported."""
    proc = subprocess.run([python(), "-X", "importtime", "-c", "import pytest; import pytest_wsgateway.plugin"],
                          capture_output=True, text=True, timeout=60, check=True, env=env)
    found = re.findall(r"import time:\s+\d+ \|\s+(\d+) \| pytest_wsgateway\.plugin\s*$", proc.stderr, re.M)
    return int(found[-1]) / 1e6 if found else float("nan")


def measure(env: dict, pairs: int, quick: bool) -> dict:
    others = [arg for name in other_plugins() for arg in ("-p", f"no:{name}")]
    with tempfile.TemporaryDirectory(prefix="wsgateway-trivial-") as project:
        Path(project, "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        Path(project, "test_trivial.py").write_text("def test_trivial():\n    assert True\n", encoding="utf-8")
        enabled_args, disabled_args = others, [*others, "-p", f"no:{OURS}"]
        for _ in range(1 if quick else 2):  # warm-up: bytecode caches, page cache
            one_run(project, enabled_args, env)
            one_run(project, disabled_args, env)
        runs: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
        for index in range(pairs):
            # alternate which arm goes first, so drift does not favour one
            arms = (("off", disabled_args), ("on", enabled_args)) if index % 2 else \
                (("on", enabled_args), ("off", disabled_args))
            for arm, arm_args in arms:
                runs[arm].append(one_run(project, arm_args, env))
    imports = sorted(import_cost(env) for _ in range(3 if quick else 9))
    wall = {arm: [run[0] for run in values] for arm, values in runs.items()}
    cpu = {arm: [run[1] for run in values] for arm, values in runs.items()}
    diffs = sorted(on - off for on, off in zip(wall["on"], wall["off"]))
    wall_diff = median(diffs)
    quartiles = statistics.quantiles(diffs, n=4) if len(diffs) > 1 else [diffs[0]] * 3
    cpu_diff = median([on - off for on, off in zip(cpu["on"], cpu["off"])])
    return {
        "pairs": pairs,
        "enabled_median_ms": round(median(wall["on"]) * 1000, 2),
        "disabled_median_ms": round(median(wall["off"]) * 1000, 2),
        "added_ms_median_of_paired_differences": round(wall_diff * 1000, 2),
        "added_ms_paired_differences_p25_p75": [round(quartiles[0] * 1000, 2), round(quartiles[2] * 1000, 2)],
        "added_ms_difference_of_medians": round((median(wall["on"]) - median(wall["off"])) * 1000, 2),
        "ratio_enabled_to_disabled": round(median(wall["on"]) / median(wall["off"]), 4),
        "enabled_cpu_median_ms": round(median(cpu["on"]) * 1000, 2),
        "disabled_cpu_median_ms": round(median(cpu["off"]) * 1000, 2),
        "added_cpu_ms_median_of_paired_differences": round(cpu_diff * 1000, 2),
        "plugin_import_ms_importtime_median": round(median(imports) * 1000, 2),
        "enabled_runs_ms": [round(v * 1000, 2) for v in wall["on"]],
        "disabled_runs_ms": [round(v * 1000, 2) for v in wall["off"]],
    }


def instruction_counts(env: dict) -> dict | None:
    """Instructions executed by each arm under valgrind's callgrind: deterministic, unlike wall time.

    The difference, converted to milliseconds at the rate the disabled arm ran (its instructions
    over its median wall time), is the plugin's cost without the machine's timing noise. Returns
    None where valgrind is not installed.
    """
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    # Like a fresh clone in CI: no bytecode left by an earlier run (e.g. this script's own
    # bytecode-cached arm) may make the plugin's modules cheaper than they are.
    for folder in ("pytest_wsgateway", "reference_server", "conformance"):
        for cache in (REPO / folder).rglob("__pycache__"):
            shutil.rmtree(cache, ignore_errors=True)
    others = [arg for name in other_plugins() for arg in ("-p", f"no:{name}")]
    counts = {}
    fixed = {**env, "PYTHONHASHSEED": "0"}
    with tempfile.TemporaryDirectory(prefix="wsgateway-trivial-") as project:
        Path(project, "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
        Path(project, "test_trivial.py").write_text("def test_trivial():\n    assert True\n", encoding="utf-8")
        for arm, extra in (("on", []), ("off", ["-p", f"no:{OURS}"])):
            command = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", python(), "-m",
                       "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *others, *extra]
            output = subprocess.run(command, cwd=project, env=fixed, capture_output=True, text=True,
                                    timeout=600).stderr
            match = re.search(r"Collected : (\d+)", output)
            if match is None:
                return None
            counts[arm] = int(match.group(1))
    return {"enabled_instructions": counts["on"], "disabled_instructions": counts["off"],
            "added_instructions": counts["on"] - counts["off"]}


def main() -> None:
    args = parser(__doc__.splitlines()[0], runs=40).parse_args()
    pairs = args.runs or (3 if args.quick else 40)
    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
    result = {"pairs": pairs, "other_plugins_disabled_in_both_arms": other_plugins(),
              "PYTHONDONTWRITEBYTECODE": env.get("PYTHONDONTWRITEBYTECODE", ""),
              **measure(env, pairs, args.quick), "target_added_ms": 10.0}
    counts = None if args.quick else instruction_counts(env)
    if counts:
        rate = counts["disabled_instructions"] / result["disabled_median_ms"]  # instructions per ms
        result["callgrind"] = {**counts, "instructions_per_ms": round(rate),
                               "added_ms_at_that_rate": round(counts["added_instructions"] / rate, 2)}
    if env.get("PYTHONDONTWRITEBYTECODE") and not args.quick:
        # Python never writes .pyc files here, so every run compiles (and pytest assertion-rewrites)
        # the plugin's modules from source. Also measure the default: bytecode cached in __pycache__.
        cached = {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}
        result["bytecode_cached"] = measure(cached, pairs, False)

    print(f"pytest --collect-only, trivial project, {pairs} alternating pairs "
          f"(other plugins disabled in both arms: {', '.join(other_plugins()) or 'none'})")
    print(f"enabled  (plugin loaded):      median {result['enabled_median_ms']:.1f} ms")
    print(f"disabled (-p no:{OURS}):  median {result['disabled_median_ms']:.1f} ms")
    print(f"added by the plugin: {result['added_ms_median_of_paired_differences']:.1f} ms "
          f"(median of paired differences, p25-p75 {result['added_ms_paired_differences_p25_p75'][0]:.1f} to "
          f"{result['added_ms_paired_differences_p25_p75'][1]:.1f} ms; difference of medians "
          f"{result['added_ms_difference_of_medians']:.1f} ms)"
          f"  target <= 10 ms")
    print(f"ratio enabled/disabled: {result['ratio_enabled_to_disabled']:.3f}x")
    print(f"CPU time (user+sys): enabled {result['enabled_cpu_median_ms']:.1f} ms, disabled "
          f"{result['disabled_cpu_median_ms']:.1f} ms, added {result['added_cpu_ms_median_of_paired_differences']:.1f} ms "
          f"(median of paired differences)")
    print(f"plugin module import (-X importtime, after pytest): {result['plugin_import_ms_importtime_median']:.1f} ms")
    if "bytecode_cached" in result:
        c = result["bytecode_cached"]
        print(f"with bytecode cached (PYTHONDONTWRITEBYTECODE unset), {c['pairs']} pairs: added "
              f"{c['added_ms_median_of_paired_differences']:.1f} ms wall, {c['added_cpu_ms_median_of_paired_differences']:.1f} ms "
              f"CPU; plugin import {c['plugin_import_ms_importtime_median']:.1f} ms")
    if "callgrind" in result:
        g = result["callgrind"]
        print(f"instructions (callgrind, deterministic): enabled {g['enabled_instructions']:,}, disabled "
              f"{g['disabled_instructions']:,}, added {g['added_instructions']:,} = {g['added_ms_at_that_rate']:.1f} ms "
              f"at this machine's {g['instructions_per_ms']:,} instructions/ms  target <= 10 ms")
    write_results("plugin_startup", result, args)


if __name__ == "__main__":
    main()
