"""Exit codes of the gate: 0 passed (or only baselined failures), 1 a case failed, 4 a bad option."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.gate._helpers import PASSING_CASE, SELECTION, SUITE, faulty_server

SECRET = "hdr-value-5c1f0e"


def run(pytester, *args):
    return pytester.runpytest(*SUITE, *args)


def test_zero_when_every_case_passes(pytester):
    with faulty_server() as server:
        result = run(pytester, f"--gateway-url={server.url}", "-k", PASSING_CASE)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK == 0


def test_zero_when_only_baselined_cases_fail(pytester):
    pytester.path.joinpath("known.yaml").write_text(
        "accept-rfc-vector: no Upgrade\nupgrade-header-websocket: no Upgrade\n")
    with faulty_server() as server:
        result = run(pytester, f"--gateway-url={server.url}", "-k", SELECTION, "--gateway-known-failures=known.yaml")
    result.assert_outcomes(passed=1, xfailed=2)
    assert result.ret == 0


def test_one_when_a_case_fails(pytester):
    with faulty_server() as server:
        result = run(pytester, f"--gateway-url={server.url}", "-k", SELECTION)
    result.assert_outcomes(passed=1, failed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED == 1


@pytest.mark.parametrize(("args", "line"), [
    (["--gateway-url=http://gw.example.com/ws"],
     "ERROR: --gateway-url 'http://gw.example.com/ws': the scheme must be ws:// or wss://, not 'http'"),
    (["--gateway-url=ws://gw.example.com:99999/ws"], "ERROR: --gateway-url 'ws://gw.example.com:99999/ws' is not a valid URL*"),
    (["--gateway-url=ws://gw.invalid/ws", f"--gateway-header=X-Api-Key {SECRET}"], "ERROR: --gateway-header: *"),
    (["--gateway-url=ws://gw.invalid/ws", f"--gateway-header=X Api: {SECRET}"],
     "ERROR: --gateway-header: 'X…' is not 'Name: value' (the text is not shown: it may hold a secret)"),
    (["--gateway-url=wss://gw.invalid/ws", "--gateway-ca=missing-ca.pem"], "ERROR: --gateway-ca missing-ca.pem: no such file"),
    (["--gateway-timeout=soon"], "ERROR: --gateway-timeout 'soon': expected a number of seconds above 0 (at most 3600)"),
    (["--gateway-known-failures=missing.yaml"], "ERROR: --gateway-known-failures missing.yaml: no such file"),
    (["--gateway-report=report.xml"], "ERROR: --gateway-report report.xml: unknown format '.xml'; *"),
    (["--gateway-write-baseline=."], "ERROR: --gateway-write-baseline .: is a directory"),
], ids=["url-scheme", "url-port", "header-no-colon", "header-bad-name", "ca-missing", "timeout", "baseline-missing",
        "report-format", "baseline-target-dir"])
def test_four_with_one_readable_line_for_a_bad_option_value(pytester, args, line):
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR == 4
    errors = [text for text in result.errlines if text.strip()]
    assert len(errors) == 1, errors
    result.stderr.fnmatch_lines([line])
    assert SECRET not in result.stdout.str() + result.stderr.str()


def _console_script() -> str:
    script = Path(sys.executable).with_name("wsgateway-conformance")
    if not script.exists():  # pragma: no cover - depends on how the package was installed
        pytest.skip("the wsgateway-conformance console script is not installed next to this Python")
    return str(script)


def test_the_console_script_gates_on_the_same_codes(tmp_path):
    quiet = ["-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest"]
    with faulty_server() as server:
        def gate(*args):
            return subprocess.run([_console_script(), server.url, *quiet, *args], cwd=tmp_path, capture_output=True,
                                  text=True, timeout=120)
        assert gate("-k", PASSING_CASE).returncode == 0
        failed = gate("-k", SELECTION, "--gateway-write-baseline=known.yaml")
        assert failed.returncode == 1, failed.stdout
        assert gate("-k", SELECTION, "--gateway-known-failures=known.yaml").returncode == 0
        usage = gate("--gateway-report=report.pdf")
        assert usage.returncode == 4
        assert usage.stderr.strip().splitlines() == [
            "ERROR: --gateway-report report.pdf: unknown format '.pdf'; use a .json, .md or .html file name"]
