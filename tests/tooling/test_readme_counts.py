"""The README's figures about the catalogue are the catalogue's (they went stale as families were added)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from pytest_wsgateway.cases import shipped_catalogue

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_the_catalogue_sentence_counts_the_shipped_cases():
    cases = shipped_catalogue()
    http1 = [case for case in cases if case.transport == "http/1.1"]
    said = re.search(r"\((\d+) cases: (\d+) over HTTP/1\.1 — (\d+) run over `ws://`, (\d+) over `wss://` — and "
                     r"(\d+) `h2-` cases", README)
    assert said, "the README's catalogue sentence changed shape: update this test with it"
    assert tuple(int(n) for n in said.groups()) == (
        len(cases), len(http1), sum("ws" in case.schemes for case in http1),
        sum("wss" in case.schemes for case in http1), len(cases) - len(http1))


def test_the_rate_limit_paragraph_quotes_the_header_of_one_wss_target(tmp_path):
    said = re.search(r"`wsgateway: this run sends about (\d+) handshake requests` \(one `wss://` target: (\d+) cases",
                     README)
    assert said, "the README's rate-limit paragraph changed shape: update this test with it"
    run = subprocess.run([sys.executable, "-m", "pytest", "--pyargs", "pytest_wsgateway.conformance", "--collect-only",
                          "-q", "-p", "no:cacheprovider", "--gateway-url=wss://gw.example.com/ws", "--gateway-insecure"],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    header = re.search(r"this run sends about (\d+) handshake requests: (\d+) cases", run.stdout)
    assert header, run.stdout[-2000:] + run.stderr[-2000:]
    assert said.groups() == header.groups()
