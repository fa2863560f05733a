"""permessage-deflate end to end and the idle case against real loopback servers: the reference
server (strict, and with the deflate and idle fault profiles), a raw endpoint that echoes a
message only once, and the suite run by pytest with --gateway-idle (skip without it, the observed
cut-off as a JUnit property and in the failure message, bad values as one usage-error line)."""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET

import pytest

from pytest_wsgateway import frames
from pytest_wsgateway.cases import shipped_catalogue
from pytest_wsgateway.handshake import accept_for, parse_request
from pytest_wsgateway.reference_server import ServerConfig, faults
from pytest_wsgateway.runner import run_case
from pytest_wsgateway.targets import parse_url
from tests.gate._helpers import SUITE
from tests.harness import connection_server, read_head, reference_server

pytest_plugins = ["pytester"]

CASES = {case.id: case for case in shipped_catalogue()}
DEFLATE_CASES = [case_id for case_id in CASES if case_id.startswith("tunnel-deflate-") and case_id != "tunnel-deflate-echo"]


def run_on_reference(case_id: str, *, deflate: bool = True, fault=None, idle: float | None = None):
    config = ServerConfig(schemes=("ws",), permessage_deflate=deflate, fault=fault)
    with reference_server(config) as server:
        return run_case(CASES[case_id], parse_url(server.urls["ws"], timeout=1.0, echo=True, idle=idle))


@pytest.mark.parametrize("case_id", DEFLATE_CASES)
def test_the_deflate_cases_pass_on_the_reference_server_and_compress_for_real(case_id):
    outcome = run_on_reference(case_id)
    assert outcome.passed, outcome.message()
    sent = outcome.exchange.sent
    assert any(line.startswith("compressed ") for line in sent), sent
    assert any(frame.rsv == 4 for frame in outcome.exchange.frames)  # the server compressed its echoes too


@pytest.mark.parametrize("case_id", DEFLATE_CASES)
def test_a_server_that_declines_deflate_skips_the_deflate_cases(case_id):
    outcome = run_on_reference(case_id, deflate=False)
    assert not outcome.passed
    assert outcome.not_offered.startswith("permessage-deflate not negotiated")


def test_the_server_s_context_takeover_is_real_in_the_echo():
    outcome = run_on_reference("tunnel-deflate-context-takeover")
    first, second, third = [f for f in outcome.exchange.frames if f.opcode == frames.TEXT]
    assert len(second.payload) < len(first.payload) and len(third.payload) < len(first.payload)


def test_ignoring_no_context_takeover_is_caught_from_the_client_side():
    outcome = run_on_reference("tunnel-deflate-server-no-context-takeover", fault="ignores-no-context-takeover")
    assert not outcome.passed
    assert "invalid distance too far back" in outcome.findings[0].actual


def _echo_once(conn: socket.socket) -> None:
    """A 101, then the first message echoed and every later one swallowed."""
    with conn:
        head, pending = read_head(conn, timeout=5)
        key = parse_request(head).get("Sec-WebSocket-Key") or ""
        conn.sendall(f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Accept: {accept_for(key)}\r\n\r\n".encode())
        echoed = False
        conn.settimeout(3)
        try:
            while data := conn.recv(65536):
                received, pending = frames.decode(pending + data)
                for frame in received:
                    if frame.opcode == frames.TEXT and not echoed:
                        conn.sendall(bytes([0x81, len(frame.payload)]) + frame.payload)
                        echoed = True
        except OSError:
            return


def test_a_repeated_message_waits_for_its_own_echo():
    """The second of two equal messages is not answered by the first one's echo (before the fix the
    step ended at once, and the exchange looked complete)."""
    with connection_server(_echo_once) as server:
        outcome = run_case(CASES["tunnel-deflate-client-no-context-takeover"],
                           parse_url(server.url(), timeout=0.5, echo=True))
    # no deflate negotiated (a raw endpoint): the case is skipped, but the exchange shows the wait
    assert outcome.not_offered
    assert outcome.exchange.frame_error is not None
    assert outcome.exchange.frame_error.message == "no answer to the text frame within 0.5 s"


def test_cuts_idle_is_caught_with_the_observed_cut_off():
    outcome = run_on_reference("tunnel-idle", fault=faults.get("cuts-idle").with_idle_cut(0.3), idle=1.0)
    assert not outcome.passed
    assert 0.25 <= outcome.idle_cutoff < 0.9, outcome.idle_cutoff
    assert "observed idle cut-off: 0." in outcome.message()


def test_the_strict_server_keeps_a_quiet_connection_and_its_own_idle_timeout_is_reported():
    assert run_on_reference("tunnel-idle", idle=0.5).passed
    config = ServerConfig(schemes=("ws",), idle_timeout=0.3)  # the strict server closes with 1001
    with reference_server(config) as server:
        outcome = run_case(CASES["tunnel-idle"], parse_url(server.urls["ws"], timeout=1.0, idle=1.0))
    assert not outcome.passed and outcome.exchange.idle_cut_how == "close frame 1001"


# --- through pytest ----------------------------------------------------------------------------


def test_without_gateway_idle_the_idle_case_is_skipped_with_the_reason(pytester):
    result = pytester.runpytest_subprocess(*SUITE, "-k", "tunnel-idle", "-rs", timeout=120)
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*no idle time declared (opt-in, slow): pass --gateway-idle SECONDS*"])


def test_the_cut_off_is_a_junit_property_and_in_the_message(pytester):
    config = ServerConfig(schemes=("ws",), fault=faults.get("cuts-idle").with_idle_cut(0.3))
    with reference_server(config) as server:
        result = pytester.runpytest_subprocess(*SUITE, f"--gateway-url={server.urls['ws']}", "--gateway-idle=1",
                                               "-k", "tunnel-idle", "--junitxml=out.xml", timeout=120)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*actual:   cut after 0.* s of quiet (closed); observed idle cut-off: 0.* s*"])
    properties = {p.get("name"): p.get("value") for p in ET.parse(pytester.path / "out.xml").iter("property")}
    assert 0.25 <= float(properties["wsgateway_idle_cutoff"]) < 0.9


def test_the_idle_case_carries_the_slow_marker(pytester):
    result = pytester.runpytest_subprocess(*SUITE, "--gateway-idle=0.2", "-m", "wsgateway_slow", "-q", timeout=120)
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize(("args", "env", "line"), [
    (("--gateway-idle=soon",), {}, "ERROR: --gateway-idle 'soon': expected a number of seconds above 0 (at most 86400)"),
    (("--gateway-idle=0",), {}, "ERROR: --gateway-idle '0': expected a number of seconds above 0 (at most 86400)"),
    (("--gateway-idle=90000",), {}, "ERROR: --gateway-idle '90000': expected a number of seconds above 0 (at most 86400)"),
    ((), {"WSGATEWAY_IDLE": "-1"}, "ERROR: WSGATEWAY_IDLE '-1': expected a number of seconds above 0 (at most 86400)"),
])
def test_a_bad_idle_value_is_one_usage_error_line(pytester, monkeypatch, args, env, line):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = pytester.runpytest_subprocess(*SUITE, *args, timeout=120)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0] == line
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_the_command_line_wins_over_the_environment_and_the_ini_file(pytester, monkeypatch):
    pytester.makeini("[pytest]\nwsgateway_idle = bad-ini\n")
    monkeypatch.setenv("WSGATEWAY_IDLE", "bad-env")
    result = pytester.runpytest_subprocess(*SUITE, timeout=120)
    assert result.stderr.lines[0].startswith("ERROR: WSGATEWAY_IDLE 'bad-env'")
    result = pytester.runpytest_subprocess(*SUITE, "--gateway-idle=0.2", "-k", "tunnel-idle", timeout=120)
    result.assert_outcomes(passed=2)
    monkeypatch.delenv("WSGATEWAY_IDLE")
    result = pytester.runpytest_subprocess(*SUITE, timeout=120)
    assert result.stderr.lines[0].startswith("ERROR: wsgateway_idle (tox.ini) 'bad-ini'")


def test_a_targets_file_sets_the_idle_time_per_target(pytester):
    with reference_server(ServerConfig(schemes=("ws",))) as server:
        pytester.path.joinpath("targets.yaml").write_text(
            f"targets:\n  - id: quiet\n    url: {server.urls['ws']}\n    idle: 0.2\n"
            f"  - id: undeclared\n    url: {server.urls['ws']}\n")
        result = pytester.runpytest_subprocess(*SUITE, "--gateway-targets=targets.yaml", "-k", "tunnel-idle", "-rs",
                                               timeout=120)
    result.assert_outcomes(passed=1, skipped=1)
    pytester.path.joinpath("bad.yaml").write_text("targets:\n  - id: t\n    url: ws://gw.invalid/\n    idle: true\n")
    result = pytester.runpytest_subprocess(*SUITE, "--gateway-targets=bad.yaml", timeout=120)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0] == ("ERROR: --gateway-targets bad.yaml: target 't': 'idle' must be a number of "
                                      "seconds above 0 (at most 86400)")
