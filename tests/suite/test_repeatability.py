"""Thirty default runs on the embedded server, and thirty with ``-n 2``: the same outcome for every
item every time (no flaky verdict from the concurrent engine). Long: selected with ``-m slow``."""

from __future__ import annotations

import subprocess
import sys

import pytest

RUNS = 30


def outcomes(*extra: str, cwd) -> dict[str, str]:
    done = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "pytest_wsgateway.conformance", "-q", "-rA",
                           "-p", "no:cacheprovider", "-p", "no:randomly", *extra],
                          capture_output=True, text=True, timeout=300, cwd=cwd)
    found = {}
    for line in done.stdout.splitlines():
        word, _, rest = line.partition(" ")
        if word in ("PASSED", "FAILED", "SKIPPED", "ERROR", "XFAIL", "XPASS") and "::" in rest:
            found[rest.split(" - ")[0]] = word
    assert found, done.stdout[-2000:]
    return found


@pytest.mark.slow
@pytest.mark.parametrize("extra", [(), ("-n", "2")], ids=["default", "xdist"])
def test_thirty_runs_give_the_same_outcomes(extra, tmp_path):
    first = outcomes(*extra, cwd=tmp_path)
    assert set(first.values()) <= {"PASSED", "SKIPPED"}, {k: v for k, v in first.items() if v not in ("PASSED", "SKIPPED")}
    for run in range(1, RUNS):
        assert outcomes(*extra, cwd=tmp_path) == first, f"run {run + 1} differs"
