"""Verdicts at the edges (issue: conclusive-or-inconclusive negative cases, rate limits, fail-fast,
crash attribution), each against a real loopback server that behaves like a real gateway.

* a gateway that wants a client id (API Connect: ``401 {"httpCode":"401", ...}``): without it no
  refusal may count as passed, and one line says which header to send; with it the run is green;
* a gateway that rate-limits (429 + Retry-After): no case passes or fails because of a 429;
* a target that never answers: every case ends at once after the canary;
* a target that dies on a request body: the failure names the case after which it stopped.
"""

from __future__ import annotations

import json
import re
import threading

import pytest

from pytest_wsgateway.cases import load_catalogue
from pytest_wsgateway.handshake import accept_for, parse_request
from pytest_wsgateway.reference_server import ServerConfig
from pytest_wsgateway.reference_server.faults import Fault
from pytest_wsgateway.reference_server.http import HttpResponse
from pytest_wsgateway.verdicts import is_refusal
from tests.harness import connection_server, read_head, reference_server
from tests.suite import _hostile as H

SUITE = ("--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider", "-p", "no:hypothesispytest")
CLIENT_ID = "3f9a2c7e51d84b06aa11"
REFUSALS = {case.id for case in load_catalogue() if is_refusal(case)}


def _apic_401(request, response):
    """IBM API Connect without a registered client id: 401 and a JSON body, whatever was asked."""
    if request is not None and request.get("X-IBM-Client-Id") == CLIENT_ID:
        return response
    body = json.dumps({"httpCode": "401", "httpMessage": "Unauthorized",
                       "moreInformation": "Client id not registered."}).encode()
    return HttpResponse(401, "Unauthorized", (("Content-Type", "application/json"),
                                              ("Content-Length", str(len(body))), ("Connection", "close")), body)


def _verdicts(result) -> dict[str, str]:
    """case id -> passed / failed / inconclusive / skipped, from the run's JUnit-free outcome lines."""
    verdicts = {}
    for report in result.reprec.getreports("pytest_runtest_logreport"):
        if report.when != "call" or "::test_conformance[" not in report.nodeid:
            continue
        case = report.nodeid.split("[", 1)[1].rsplit("@", 1)[0]
        inconclusive = "wsgateway_inconclusive" in dict(report.user_properties)
        verdicts[case] = "inconclusive" if report.failed and inconclusive else report.outcome
    return verdicts


def test_without_credentials_no_refusal_passes_and_one_line_names_the_header(pytester):
    fault = Fault(name="apic-401", doc="401 without X-IBM-Client-Id", seen="", respond=_apic_401)
    with reference_server(ServerConfig(schemes=("ws",), fault=fault)) as server:
        url = f"--gateway-url={server.urls['ws']}"
        without = pytester.inline_run(*SUITE, url)
        with_header = pytester.inline_run(*SUITE, url, f"--gateway-header=X-IBM-Client-Id: {CLIENT_ID}")
    without.reprec = without
    verdicts = _verdicts(without)
    assert verdicts and REFUSALS & set(verdicts)
    assert not [case for case, verdict in verdicts.items() if case in REFUSALS and verdict == "passed"]
    assert all(verdict in ("inconclusive", "skipped") for verdict in verdicts.values()), verdicts
    assert without.ret == pytest.ExitCode.TESTS_FAILED
    with_header.reprec = with_header
    assert set(_verdicts(with_header).values()) <= {"passed", "skipped"}
    assert with_header.ret == pytest.ExitCode.OK


def test_the_credentials_hint_is_said_once(pytester):
    fault = Fault(name="apic-401", doc="401 without X-IBM-Client-Id", seen="", respond=_apic_401)
    with reference_server(ServerConfig(schemes=("ws",), fault=fault)) as server:
        result = pytester.runpytest(*SUITE, f"--gateway-url={server.urls['ws']}", "-q")
    hints = [line for line in result.stdout.lines if "--gateway-header 'X-IBM-Client-Id: …'" in line]
    assert len(hints) == 1, result.stdout.str()
    assert "the valid upgrade is refused too (401 Unauthorized)" in hints[0]
    assert "passed" not in result.stdout.lines[-1] and "inconclusive" in result.stdout.lines[-1]


class _RateLimit:
    """A plan's limit: requests after the first ``allowed`` get 429 + Retry-After (``limited`` of them,
    or all of them when ``limited`` is None)."""

    def __init__(self, allowed: int, limited: int | None, retry_after: str) -> None:
        self.allowed, self.limited, self.retry_after = allowed, limited, retry_after
        self.count = 0
        self.answered_429 = 0
        self.lock = threading.Lock()

    def respond(self, request, response):
        with self.lock:
            self.count += 1
            limit = self.count > self.allowed and (self.limited is None or self.answered_429 < self.limited)
            if limit:
                self.answered_429 += 1
        if not limit:
            return response
        body = b'{"httpCode":"429","httpMessage":"Too Many Requests"}'
        return HttpResponse(429, "Too Many Requests", (("Retry-After", self.retry_after),
                                                       ("Content-Length", str(len(body))), ("Connection", "close")), body)


def test_rate_limits_are_waited_out_and_never_a_verdict(pytester):
    limit = _RateLimit(allowed=40, limited=12, retry_after="0")
    fault = Fault(name="rate-limited", doc="429 for a while after 40 requests", seen="", respond=limit.respond)
    with reference_server(ServerConfig(schemes=("ws",), fault=fault, subprotocols=("chat",))) as server:
        result = pytester.runpytest(*SUITE, f"--gateway-url={server.urls['ws']}", "--gateway-echo", "-q")
    assert limit.answered_429 == 12
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]
    assert "12 answer(s) were rate limits" in result.stdout.str()


def test_rate_limits_answered_to_the_canary_are_counted_too(pytester):
    limit = _RateLimit(allowed=0, limited=1, retry_after="0")  # the first request (the canary) gets a 429
    fault = Fault(name="rate-limited", doc="429 to the first request", seen="", respond=limit.respond)
    with reference_server(ServerConfig(schemes=("ws",), fault=fault)) as server:
        result = pytester.runpytest(*SUITE, f"--gateway-url={server.urls['ws']}", "-q", "-k",
                                    "accept-rfc-vector or accept-zero-nonce", "--gateway-concurrency=1")
    assert limit.answered_429 == 1
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]
    assert "1 answer(s) were rate limits" in result.stdout.str()


def test_rate_limits_answered_to_a_case_that_is_then_skipped_are_counted_too(pytester):
    # the second request (the case) gets a 429, then its 101 declines permessage-deflate: skipped
    limit = _RateLimit(allowed=1, limited=1, retry_after="0")
    fault = Fault(name="rate-limited", doc="429 to the second request", seen="", respond=limit.respond)
    with reference_server(ServerConfig(schemes=("ws",), fault=fault)) as server:
        result = pytester.runpytest(*SUITE, f"--gateway-url={server.urls['ws']}", "-q", "--gateway-echo",
                                    "-k", "tunnel-deflate-context-takeover", "--gateway-concurrency=1")
    assert limit.answered_429 == 1
    result.assert_outcomes(skipped=1)
    assert "1 answer(s) were rate limits" in result.stdout.str()


def test_a_rate_limit_past_the_budget_is_inconclusive_never_failed(pytester):
    limit = _RateLimit(allowed=40, limited=None, retry_after="1")
    fault = Fault(name="rate-limited", doc="429 forever after 40 requests", seen="", respond=limit.respond)
    with reference_server(ServerConfig(schemes=("ws",), fault=fault, subprotocols=("chat",))) as server:
        run = pytester.inline_run(*SUITE, f"--gateway-url={server.urls['ws']}", "--gateway-echo",
                                  "--gateway-retry-budget=2")
    run.reprec = run
    verdicts = _verdicts(run)
    assert "failed" not in verdicts.values(), verdicts
    assert list(verdicts.values()).count("inconclusive") >= 50  # everything after the 40th request
    messages = [r.longreprtext for r in run.getreports("pytest_runtest_logreport")
                if r.when == "call" and r.failed]
    assert messages and all("rate-limited: the target answered 429 and the retry budget (2 s" in m for m in messages)
    assert limit.answered_429 <= 40 + len(verdicts)  # two 1-s waits, then one request per case: no retry storm


def test_a_target_that_never_answers_ends_every_case_after_the_canary(pytester):
    with H.hostile_server(H.never_answers) as (url, stats):
        run = pytester.inline_run(*SUITE, f"--gateway-url={url}", "--gateway-timeout=0.5", "--gateway-echo")
    run.reprec = run
    verdicts = _verdicts(run)
    assert len(verdicts) > 90 and set(verdicts.values()) <= {"inconclusive", "skipped"}
    assert stats.connections == 2  # the canary and one plain GET; no case opened a connection


def test_a_target_that_dies_on_a_request_body_is_named(pytester):
    def handle(conn):
        with conn:
            head, _ = read_head(conn, timeout=5)
            request = parse_request(head)
            if request.get("Content-Length") or request.get("Transfer-Encoding"):
                server.stop_accepting()  # the crash: no answer, and no new connection accepted
                return
            key = request.get("Sec-WebSocket-Key") or ""
            conn.sendall(f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         f"Sec-WebSocket-Accept: {accept_for(key)}\r\n\r\n".encode())

    with connection_server(handle) as server:
        result = pytester.runpytest(*SUITE, f"--gateway-url={server.url()}", "-k",
                                    "accept-rfc-vector or body-content-length or body-chunked",
                                    "--gateway-report=r.json", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=2)
    named = "stopped accepting connections after `body-content-length`"
    assert named in result.stdout.str()
    [target] = json.loads((pytester.path / "r.json").read_text())["targets"]
    chunked = next(case for case in target["cases"] if case["id"] == "body-chunked")
    assert named in chunked["message"]


def _dies_on_the_zero_nonce(server_box, dies=lambda request: request.get("Sec-WebSocket-Key") == "AAAAAAAAAAAAAAAAAAAAAA=="):
    """A gateway that answers valid 101s (each after 30 ms) and stops accepting connections when it
    sees a request ``dies`` picks (default: the all-zero key of ``accept-zero-nonce``, a quiet case)."""

    def handle(conn):
        with conn:
            head, _ = read_head(conn, timeout=5)
            request = parse_request(head)
            key = request.get("Sec-WebSocket-Key") or ""
            if dies(request):
                server_box[0].stop_accepting()
                return
            threading.Event().wait(0.03)
            conn.sendall(f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         f"Sec-WebSocket-Accept: {accept_for(key)}\r\n\r\n".encode())

    return handle


@pytest.mark.parametrize("concurrency", ["2", "1", "xdist"])
def test_a_crash_on_a_case_among_others_in_flight_names_no_bystander(pytester, concurrency):
    """Two at a time (or two xdist workers, each one at a time), the case whose answer came last
    is not the request that crashed the target: the failures say the culprit is not known (and
    how to find it) instead of naming a bystander; one at a time, they name it."""
    box = []
    extra = ("-n", "2", "--gateway-concurrency=1") if concurrency == "xdist" else (f"--gateway-concurrency={concurrency}",)
    with connection_server(_dies_on_the_zero_nonce(box)) as server:
        box.append(server)
        result = pytester.runpytest_subprocess(*SUITE, f"--gateway-url={server.url()}", "-k", "accept- or upgrade-",
                                               *extra, "--gateway-timeout=2", "-p", "no:randomly", timeout=120)
    text = result.stdout.str()
    named = re.findall(r"stopped accepting connections after `([a-z0-9-]+)`", text)
    unknown = text.count("which request crashed it is not known")
    assert result.ret == 1
    if concurrency == "1":
        assert named and set(named) == {"accept-zero-nonce"} and unknown == 0
    else:
        assert unknown > 0 and named == [], named  # before: a bystander named as the culprit


def test_a_crash_right_after_origin_policys_request_names_that_request(pytester):
    """origin-policy's browser requests go through the executor too: a gateway that dies on the
    foreign Origin is named after it (before: a bare "connection refused", no culprit)."""
    box = []
    foreign = "https://foreign.wsgateway.invalid"
    with connection_server(_dies_on_the_zero_nonce(box, lambda request: request.get("Origin") == foreign)) as server:
        box.append(server)
        result = pytester.runpytest(*SUITE, f"--gateway-url={server.url()}", "-k", "origin-policy or accept-",
                                    "--gateway-concurrency=1", "--gateway-timeout=2", "-p", "no:randomly")
    named = set(re.findall(r"stopped accepting connections after `([^`]+)`", result.stdout.str()))
    assert named == {f"origin-policy (Origin: {foreign})"}, result.stdout.str()[-3000:]
