"""Header values (--gateway-header, WSGATEWAY_HEADER_<NAME>) never reach any output or file."""

from __future__ import annotations

import pytest

from tests.gate._helpers import SELECTION, SUITE, faulty_server

SECRET = "tok-3f9a2c7e51d84b06"  # --gateway-header X-Api-Key
ENV_SECRET = "env-8d1e44b9c02f7a35"  # WSGATEWAY_HEADER_X_CLIENT_SECRET -> X-Client-Secret

LEAKY_TEST = """
def test_secret_in_locals_output_and_assertion(wsgateway_settings):
    settings = wsgateway_settings
    token = dict(settings.headers)["X-Api-Key"]
    print("the token is", token)
    assert token == "something else", repr(settings)
"""


@pytest.mark.parametrize("parallel", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_secrets_stay_out_of_terminal_junit_reports_baseline_and_tracebacks(pytester, monkeypatch, parallel):
    pytester.makepyfile(test_leaky=LEAKY_TEST)
    monkeypatch.setenv("WSGATEWAY_HEADER_X_CLIENT_SECRET", ENV_SECRET)
    with faulty_server(reflect="X-Api-Key") as server:  # the response carries the secret back, too
        result = pytester.runpytest_subprocess(
            *SUITE, "test_leaky.py", *parallel, f"--gateway-url={server.url}", f"--gateway-header=X-Api-Key: {SECRET}",
            "-k", f"{SELECTION} or test_secret", "--junitxml=out/junit.xml", "--gateway-report=out/r.json",
            "--gateway-report=out/r.md", "--gateway-report=out/r.html", "--gateway-write-baseline=out/known.yaml",
            "-l", "-vv", "--tb=long", "-rA", timeout=180)
    # The run really failed, and the server really received both secrets, so they were there to leak.
    result.assert_outcomes(failed=3, passed=1)
    received = [{name.lower(): value for name, value in headers} for headers in server.seen]
    assert received and all(h["x-api-key"] == SECRET and h["x-client-secret"] == ENV_SECRET for h in received)

    outputs = {"stdout": result.stdout.str(), "stderr": result.stderr.str()}
    files = sorted(path for path in pytester.path.rglob("*") if path.is_file())
    assert {path.name for path in files} >= {"junit.xml", "r.json", "r.md", "r.html", "known.yaml", "test_leaky.py"}
    outputs.update({str(path.relative_to(pytester.path)): path.read_bytes().decode("utf-8", "replace") for path in files})
    for name, text in outputs.items():
        for secret in (SECRET, ENV_SECRET):
            assert secret not in text, f"{secret} leaked into {name}"
    # ... and the places where they would have been show the redaction instead.
    assert "X-Api-Key: <redacted>" in outputs["stdout"] and "X-Reflected: <redacted>" in outputs["stdout"]
    assert "X-CLIENT-SECRET: <redacted>" in outputs["stdout"]
    assert "token      = '<redacted>'" in outputs["stdout"]  # -l shows the local, redacted
    assert "the token is <redacted>" in outputs["stdout"]  # captured output
    assert "X-Api-Key: &lt;redacted&gt;" in outputs["out/junit.xml"]
    assert "X-Api-Key: &lt;redacted&gt;" in outputs["out/r.html"] and "X-Api-Key: <redacted>" in outputs["out/r.json"]


def test_reprs_hold_no_header_values():
    from pytest_wsgateway.cases import load_catalogue
    from pytest_wsgateway.runner import Outcome
    from pytest_wsgateway.settings import Settings
    from pytest_wsgateway.targets import parse_url

    settings = Settings(headers=(("X-Api-Key", SECRET),), origin="https://app.example")
    assert SECRET not in repr(settings) and SECRET not in str(settings)
    assert settings.secrets == (SECRET,)
    case = load_catalogue()[0]
    outcome = Outcome(case, parse_url("ws://gw.example/ws"), f"X-Api-Key: {SECRET}\r\n".encode(), secrets=(SECRET,))
    assert SECRET not in repr(outcome)
    assert outcome.redact(f"a {SECRET} b") == "a <redacted> b"


def test_env_header_names_map_underscores_to_dashes(pytester, monkeypatch):
    monkeypatch.setenv("WSGATEWAY_HEADER_X_IBM_CLIENT_ID", "client-id-value")
    with faulty_server(fault=False) as server:
        result = pytester.runpytest(*SUITE, f"--gateway-url={server.url}", "-k", "accept-rfc-vector")
    result.assert_outcomes(passed=1)
    # two requests: the canary (the valid upgrade) and the case; both carry the header
    assert [dict(headers).get("X-IBM-CLIENT-ID") for headers in server.seen] == ["client-id-value"] * 2
