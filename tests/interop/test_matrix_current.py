"""docs/conformance-matrix.md is what docs/gen_matrix.py produces now: CI keeps it current.

The generator runs in a subprocess (as a developer runs it), starting every gateway and library
on loopback and running the suite once against all of them; its output must equal the committed
file byte for byte. Gateways it starts die with it (setpriv --pdeathsig) if it is killed on timeout.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.interop import _gateways

ROOT = Path(__file__).resolve().parents[2]
MATRIX = ROOT / "docs" / "conformance-matrix.md"


def test_conformance_matrix_is_current(tmp_path):
    missing = [reason for kind in _gateways.KINDS if (reason := _gateways.missing_binary(kind))]
    if missing:
        pytest.skip(f"the matrix has a column per gateway: {missing[0]}")
    for kind in _gateways.H2_TITLES:  # the HTTP/2 columns: skipped where missing, failed under CI=true
        _gateways.require_binary(kind)
    fresh = tmp_path / "conformance-matrix.md"
    env = {name: value for name, value in os.environ.items() if not name.startswith("WSGATEWAY_")}
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "gen_matrix.py"), "--output", str(fresh)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = fresh.read_text(encoding="utf-8")
    assert not re.search(r"127\.0\.0\.1:\d|::1\]:\d|\d\d:\d\d:\d\d", text), "the matrix must not carry ports or times"
    committed = MATRIX.read_text(encoding="utf-8")
    if text != committed:
        diff = "".join(difflib.unified_diff(committed.splitlines(True), text.splitlines(True),
                                            "docs/conformance-matrix.md (committed)", "generated now"))
        pytest.fail(f"docs/conformance-matrix.md is stale: run python docs/gen_matrix.py\n{diff[:6000]}", pytrace=False)
