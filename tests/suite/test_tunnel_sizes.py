"""The size ladder, backpressure and half-close end to end, against the reference server and its
size profiles: a clean limit reported (JUnit property, JSON report, terminal summary) without
``--gateway-max-message`` and failed with it; a message that vanishes; the opt-in rungs up to
16 MiB; a hostile target that announces a 1 GiB echo (bounded); the usage errors of the option."""

from __future__ import annotations

import json
import socket
import time
import xml.etree.ElementTree as ET

import pytest

from pytest_wsgateway.cases import shipped_catalogue
from pytest_wsgateway.handshake import accept_for, parse_request
from pytest_wsgateway.reference_server import ServerConfig
from pytest_wsgateway.runner import run_case
from pytest_wsgateway.targets import parse_url
from tests.gate._helpers import SUITE
from tests.harness import connection_server, read_head, reference_server

pytest_plugins = ["pytester"]

CASES = {case.id: case for case in shipped_catalogue()}
LADDER = ("tunnel-size-binary", "tunnel-size-text", "tunnel-size-binary-fragmented", "tunnel-size-text-fragmented")
LIMIT_LINE = "1009 'message of 1048576 bytes exceeds the limit of 65536 bytes'"


def _server(fault: str | None = None):
    return reference_server(ServerConfig(schemes=("ws",), fault=fault))


def test_the_large_rungs_reach_16_mib_on_the_reference_server():
    with _server() as server:
        target = parse_url(server.urls["ws"], echo=True, timeout=5.0, max_message=16 << 20)
        for case_id in ("tunnel-size-large-binary", "tunnel-size-large-text-fragmented"):
            outcome = run_case(CASES[case_id], target)
            assert outcome.passed, outcome.message()
            assert (outcome.largest_message, outcome.message_limit) == (16 << 20, None)
            assert "< echo of the binary message of 16,777,216 bytes: intact" in outcome.transcript() or \
                "< echo of the text message of 16,777,216 bytes in 8 fragments: intact" in outcome.transcript()


def test_a_message_that_vanishes_fails_and_the_largest_before_it_is_kept():
    with _server("drops-big-messages") as server:
        target = parse_url(server.urls["ws"], echo=True, timeout=0.5)
        outcome = run_case(CASES["tunnel-size-binary"], target)
    assert not outcome.passed and outcome.largest_message == 65536
    assert outcome.message_limit == "binary message of 1,048,576 bytes: silent (nothing more within 0.5 s; it did not come back)"
    assert "requirement: RFC 6455 §7.4.1: a message comes back whole, or a limit is announced" in outcome.message()


def _junit_sizes(path) -> dict[str, dict[str, str]]:
    sizes = {}
    for testcase in ET.parse(path).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in testcase.iter("property")}
        if "wsgateway_case" in props:
            sizes[props["wsgateway_case"]] = props
    return sizes


def test_a_clean_limit_is_reported_without_the_declared_size_and_failed_with_it(pytester):
    with _server("clean-size-limit") as server:
        common = (*SUITE, f"--gateway-url={server.urls['ws']}", "--gateway-echo", "--gateway-timeout=2",
                  "-k", "tunnel-size or tunnel-backpressure")
        reported = pytester.runpytest_subprocess(*common, "--junitxml=r.xml", "--gateway-report=r.json",
                                                 "--gateway-report=r.md", "--gateway-report=r.html", timeout=120)
        declared = pytester.runpytest_subprocess(*common, "--gateway-max-message=1048576", timeout=120)
    out = reported.stdout.str()
    # Without the declaration: every ladder case passes; the limit is a result, not a failure.
    reported.assert_outcomes(passed=5, failed=0, skipped=2)  # the flood's 256 KiB messages meet the limit too
    assert ("largest message: 65,536 bytes came back intact; then binary message of 1,048,576 bytes: limit "
            f"(close frame {LIMIT_LINE})") in out
    junit = _junit_sizes(pytester.path / "r.xml")
    for case_id in LADDER:
        assert junit[case_id]["wsgateway_largest_message"] == "65536"
        assert LIMIT_LINE in junit[case_id]["wsgateway_message_limit"]
    (target,) = json.loads((pytester.path / "r.json").read_text())["targets"]
    assert target["largest_message"] == 65536 and LIMIT_LINE in target["message_limit"]
    line = f"Largest message: 65,536 bytes came back intact; then binary message of 1,048,576 bytes: limit (close frame"
    assert line in (pytester.path / "r.md").read_text() and line in (pytester.path / "r.html").read_text()
    assert 'data-largest-message="65536"' in (pytester.path / "r.html").read_text()
    # Declared: the API must carry 1 MiB, so the same clean limit fails every ladder case.
    declared.assert_outcomes(passed=0, failed=5, skipped=2)
    assert "--gateway-max-message 1048576: the API carries messages of up to 1,048,576 bytes" in declared.stdout.str()


def test_the_backpressure_flood_meeting_a_clean_limit_fails_only_below_the_declared_size():
    with _server("clean-size-limit") as server:
        url = server.urls["ws"]
        undeclared = run_case(CASES["tunnel-backpressure"], parse_url(url, echo=True, timeout=2))
        small = run_case(CASES["tunnel-backpressure"], parse_url(url, echo=True, timeout=2, max_message=65536))
        large = run_case(CASES["tunnel-backpressure"], parse_url(url, echo=True, timeout=2, max_message=1 << 20))
    assert undeclared.passed and small.passed, (undeclared.message(), small.message())  # 256 KiB > 64 KiB declared
    assert not large.passed and "a limit below the declared size" in large.message()
    assert "< close frame" in large.transcript() and LIMIT_LINE.replace("1048576", "262144") in large.message()
    assert undeclared.largest_message is None and undeclared.message_limit is None  # a flood is not a rung


def test_an_echo_that_announces_a_gigabyte_is_refused_at_once_with_bounded_memory():
    """A target that answers every rung with a frame head claiming 1 GiB and then streams bytes:
    the comparison stops at the first byte beyond the message, well within the timeout."""

    def handle(conn: socket.socket) -> None:
        with conn:
            head, _ = read_head(conn, timeout=5)
            key = parse_request(head).get("Sec-WebSocket-Key") or ""
            conn.sendall((f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                          f"Sec-WebSocket-Accept: {accept_for(key)}\r\n\r\n").encode())
            conn.settimeout(5)
            conn.recv(65536)  # the first rung (the empty message), then the answer to it
            conn.sendall(bytes([0x82, 127]) + (1 << 30).to_bytes(8, "big"))
            deadline = time.monotonic() + 5
            try:
                while time.monotonic() < deadline:
                    conn.sendall(b"\x00" * 65536)
            except OSError:
                return

    with connection_server(handle) as server:
        started = time.monotonic()
        outcome = run_case(CASES["tunnel-size-binary"], parse_url(server.url(), echo=True, timeout=2))
    assert time.monotonic() - started < 2
    assert not outcome.passed and "binary message of 0 bytes: altered (more than the 0 bytes sent came back)" in \
        outcome.message()


def test_the_half_close_reply_arrives_and_a_reset_on_half_close_fails():
    with _server() as server:
        good = run_case(CASES["tunnel-half-close"], parse_url(server.urls["ws"], timeout=2))
    with _server("resets-on-half-close") as server:
        reset = run_case(CASES["tunnel-half-close"], parse_url(server.urls["ws"], timeout=2))
    assert good.passed, good.message()
    assert "> TCP half-close (FIN: the client sends nothing more, and goes on reading)" in good.transcript()
    assert not reset.passed and "connection reset by the target" in reset.message()


@pytest.mark.parametrize(("args", "env", "line"), [
    (("--gateway-max-message=1MiB",), {}, "ERROR: --gateway-max-message '1MiB': expected a whole number of bytes "
                                           "above 0, e.g. 1048576"),
    ((), {"WSGATEWAY_MAX_MESSAGE": "0"}, "ERROR: WSGATEWAY_MAX_MESSAGE '0': expected a whole number of bytes above 0, "
                                         "e.g. 1048576"),
])
def test_a_bad_max_message_is_one_line_and_exit_4(pytester, monkeypatch, args, env, line):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = pytester.runpytest_subprocess(*SUITE, "--gateway-url=ws://gw.invalid/ws", *args, timeout=120)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0] == line and "Traceback" not in result.stderr.str()


def test_a_bad_max_message_in_the_ini_file_names_the_key(pytester):
    pytester.makeini("[pytest]\nwsgateway_max_message = lots\n")
    result = pytester.runpytest_subprocess(*SUITE, "--gateway-url=ws://gw.invalid/ws", timeout=120)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0] == ("ERROR: wsgateway_max_message (tox.ini) 'lots': expected a whole number of "
                                      "bytes above 0, e.g. 1048576")


def test_the_size_summary_is_printed_under_xdist_too(pytester):
    """The controller of ``-n 2`` has no settings of its own: the line comes from the workers' reports."""
    result = pytester.runpytest_subprocess(*SUITE, "-n", "2", "-k", "tunnel-size-binary", timeout=120)
    result.stdout.fnmatch_lines(["*wsgateway: message sizes*",
                                 "reference-ws: largest message: 1,048,576 bytes came back intact (the largest size sent; no limit met)"])
