"""The suite's verdicts on real targets: the reference server, websockets' defaults, a GatewayScript.

Each target runs on loopback; the suite runs in-process through pytester, and the test compares
the exact set of failing cases with what the target really does wrong.
"""

import pytest

from tests._targets import gatewayscript_101, raw_server, websockets_echo_server


def failed_cases(reprec):
    reports = reprec.getreports("pytest_runtest_logreport")
    failed = {r.nodeid.split("[", 1)[1].split("@", 1)[0] for r in reports if r.when == "call" and r.failed}
    return failed, {r.nodeid: r for r in reports if r.when == "call"}


def test_reference_server_passes_every_case_over_ws_and_wss(pytester):
    # --gateway-idle: the opt-in idle case runs too (a short quiet time); --gateway-max-message above
    # 1 MiB: the opt-in rungs up to 16 MiB run too.
    reprec = pytester.inline_run("--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider",
                                 "--gateway-idle=0.2", "--gateway-max-message=16777216")
    passed, skipped, failed = reprec.listoutcomes()
    # The Chromium probe runs only with --gateway-browser; nothing else may be skipped (the embedded
    # server negotiates permessage-deflate, so the tunnel-deflate-* cases run).
    assert failed == [] and [r for r in skipped if "test_browser_probe" not in r.nodeid] == []
    targets = {r.nodeid.rsplit("@", 1)[1].rstrip("]") for r in passed}
    assert targets == {"reference-ws", "reference-wss"} and len(passed) >= 120


def test_the_embedded_default_run_includes_the_http2_family_on_wss_and_a_marker_selects_it(pytester):
    from pytest_wsgateway.cases import load_catalogue

    family = {case.id for case in load_catalogue() if case.transport == "h2"}
    reprec = pytester.inline_run("--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider", "-m", "http2")
    passed, skipped, failed = reprec.listoutcomes()
    assert failed == [] and skipped == []
    ran = {r.nodeid.split("[", 1)[1].rstrip("]") for r in passed}
    assert ran == {f"{case}@reference-wss" for case in family} and len(family) >= 16  # ALPN h2 on wss only


@pytest.mark.parametrize(("mode", "targets"), [("off", set()), ("on", {"reference-ws", "reference-wss"})])
def test_gateway_http2_off_or_on_for_the_embedded_server(pytester, mode, targets):
    """off takes the family out; on adds the ws target too (h2c with prior knowledge)."""
    from pytest_wsgateway.cases import load_catalogue

    family = {case.id for case in load_catalogue() if case.transport == "h2"}
    reprec = pytester.runpytest_subprocess("--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider",
                                           "-m", "http2", f"--gateway-http2={mode}", "-rA", timeout=120)
    ran = {line.split("[", 1)[1].split("]", 1)[0] for line in reprec.stdout.lines if line.startswith("PASSED ")}
    assert ran == {f"{case}@{target}" for case in family for target in targets}
    assert reprec.ret == (0 if targets else pytest.ExitCode.NO_TESTS_COLLECTED)


# What websockets (the library's default server) does wrong, each a real RFC deviation:
WEBSOCKETS_DEVIATIONS = {
    # RFC 6455 §4.4: the refusal of version 99 is a 400 without Sec-WebSocket-Version.
    "reject-version-99-version-advertised",
    # RFC 9112 §3.2: a missing or second Host must get a 400; websockets does not check Host.
    "reject-host-missing", "reject-host-missing-clean-error",
    "reject-host-duplicated", "reject-host-duplicated-clean-error",
    # RFC 9110 §7.8: its 426 sends Upgrade: websocket with Connection: close, not listing "upgrade".
    "reject-upgrade-missing-upgrade-on-426", "reject-upgrade-h2c-upgrade-on-426",
    "reject-connection-missing-upgrade-on-426", "reject-connection-keep-alive-only-upgrade-on-426",
    # A body or chunked framing on the upgrade: websockets drops the connection without a response
    # (neither a clean refusal nor an upgrade).
    "body-content-length", "body-chunked",
}


def test_websockets_default_server_fails_exactly_where_it_deviates(pytester):
    with websockets_echo_server() as url:
        reprec = pytester.inline_run("--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider",
                                     f"--gateway-url={url}", "--gateway-echo")
    failed, reports = failed_cases(reprec)
    assert failed == WEBSOCKETS_DEVIATIONS
    version = next(r for n, r in reports.items() if "reject-version-99-version-advertised@" in n)
    text = version.longreprtext
    assert "RFC 6455 §4.4" in text and "no Sec-WebSocket-Version header" in text
    assert "Sec-WebSocket-Version: 99" in text  # the transcript shows the request


def test_gatewayscript_101_fails_naming_missing_headers_and_accepted_bad_keys(pytester):
    with raw_server(gatewayscript_101) as url:
        reprec = pytester.inline_run("--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider",
                                     f"--gateway-url={url}", "--gateway-timeout=1")
    failed, reports = failed_cases(reprec)
    for case in ("upgrade-header-websocket", "upgrade-connection-upgrade", "accept-rfc-vector",
                 "reject-key-4-bytes", "reject-key-not-base64", "reject-version-99", "reject-method-post"):
        assert case in failed
    assert "upgrade-accept-value" not in failed and "upgrade-no-content-length" not in failed
    upgrade = next(r.longreprtext for n, r in reports.items() if "upgrade-header-websocket@" in n)
    assert "expected: Upgrade: websocket" in upgrade and "actual:   no Upgrade header" in upgrade
    connection = next(r.longreprtext for n, r in reports.items() if "upgrade-connection-upgrade@" in n)
    assert "actual:   no Connection header" in connection
    bad_key = next(r.longreprtext for n, r in reports.items() if "reject-key-4-bytes@" in n)
    assert "Sec-WebSocket-Key: AQIDBA==" in bad_key and "actual:   HTTP/1.1 101 Switching Protocols" in bad_key
