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


# --- every output mode, every kind of secret, echoing targets --------------------------------------

LONG_SECRET = "zq7Xv1Lm" + "9c4e2b7a1f6d8e30" * 18  # 296 characters: pytest shortens its repr with -l
HEADER_SECRET = "hv5Rw2Kp-71c0e9d4b3a2"  # --gateway-header X-Api-Key
OVERLAPPING = f"Bearer {HEADER_SECRET}-ZQXJ-55d1"  # --gateway-header Authorization: holds the other one
QUERY_SECRET = "qs8Tn4Jw60b1a9c8d7e6"  # ?client_id=… (API Connect takes the client id in the query too)
SECRETS = (LONG_SECRET, HEADER_SECRET, OVERLAPPING, QUERY_SECRET)

LEAKY_LONG = """
def test_long_secret_in_locals(wsgateway_settings):
    token = {name.lower(): value for name, value in wsgateway_settings.headers}["x-long-token"]
    print("the token is", token)
    assert token == "something else"
"""


def _echo_everything(request, response):
    """A gateway that echoes what it got: the 101 carries the key back, an error its reason phrase
    and body carry every header value and the request target."""
    import dataclasses

    from pytest_wsgateway.reference_server.http import HttpResponse

    if request is None:
        return response
    values = " ".join(value for _, value in request.headers) + " " + request.target
    if response.status == 101:
        return dataclasses.replace(response, headers=(*response.headers, ("X-Echo", request.get("X-Api-Key") or "")))
    body = f"denied: {values}".encode("latin-1", "replace")
    return HttpResponse(403, f"Forbidden for {request.get('X-Api-Key')}", (
        ("Content-Length", str(len(body))), ("Connection", "close")), body)


def _fragments(text: str) -> list[str]:
    """Every piece of 8 or more characters of any secret that occurs in ``text``."""
    return sorted({secret[i:i + 8] for secret in SECRETS for i in range(len(secret) - 7) if secret[i:i + 8] in text})


@pytest.mark.parametrize("parallel", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_no_fragment_of_any_secret_in_any_output(pytester, monkeypatch, parallel):
    from pytest_wsgateway.reference_server import ServerConfig
    from pytest_wsgateway.reference_server.faults import Fault
    from tests.harness import reference_server

    pytester.makepyfile(test_leaky=LEAKY_TEST.replace('dict(settings.headers)["X-Api-Key"]',
                                                      'dict(settings.headers)["X-Api-Key"]'), test_long=LEAKY_LONG)
    monkeypatch.setenv("WSGATEWAY_HEADER_X_LONG_TOKEN", LONG_SECRET)
    fault = Fault(name="echo-everything", doc="echoes secrets", seen="", respond=_echo_everything)
    with reference_server(ServerConfig(schemes=("ws",), fault=fault)) as server:
        url = server.urls["ws"] + f"?client_id={QUERY_SECRET}"
        result = pytester.runpytest_subprocess(
            "--pyargs", "pytest_wsgateway.conformance", "test_leaky.py", "test_long.py", *parallel,
            f"--gateway-url={url}", f"--gateway-header=X-Api-Key: {HEADER_SECRET}",
            f"--gateway-header=Authorization: {OVERLAPPING}", "--gateway-echo",
            "-k", "accept-rfc-vector or reject-key-missing or reject-version-99 or origin-policy or leaky or long",
            "--junitxml=out/junit.xml", "-o", "junit_logging=all", "--gateway-report=out/r.json",
            "--gateway-report=out/r.md", "--gateway-report=out/r.html", "--gateway-write-baseline=out/known.yaml",
            "--debug=debug.log", "-l", "--tb=long", "-vv", "-rA", timeout=300)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the leaky tests fail; the secrets were there to leak
    outputs = {"stdout": result.stdout.str(), "stderr": result.stderr.str()}
    files = sorted(path for path in pytester.path.rglob("*") if path.is_file())
    names = {path.name for path in files}
    assert {"junit.xml", "r.json", "r.md", "r.html", "known.yaml", "debug.log"} <= names
    assert any(".pytest_cache" in str(path) for path in files)  # the cache is written, and searched too
    outputs.update({str(path.relative_to(pytester.path)): path.read_bytes().decode("utf-8", "replace")
                    for path in files if path.name not in ("test_leaky.py", "test_long.py")})
    leaks = {name: _fragments(text) for name, text in outputs.items() if _fragments(text)}
    assert leaks == {}
    # ... and the places where they would have been show the redaction
    assert "X-Api-Key: <redacted>" in outputs["stdout"] and "client_id=<redacted>" in outputs["stdout"]
    assert "Forbidden for <redacted>" in outputs["stdout"], outputs["stdout"][-5000:]
