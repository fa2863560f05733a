"""Hostile targets never hang the suite, never blow its memory and never crash the harness.

Each hostile fake gateway (``tests/suite/_hostile.py``, loopback only) is met three ways:

* in-process, ``http1.exchange`` against it ends within a few step timeouts with one readable
  line saying what went wrong (memory measured with tracemalloc where a target floods);
* the real suite in a subprocess (``pytester.runpytest_subprocess``) against all of them at once,
  a few cases each: every case ends within its bound (JUnit times), fails with the expected
  one-line reason, and no ``Traceback`` / ``INTERNALERROR`` appears;
* the full catalogue against a target that accepts and never answers, with ``-n 2``: the whole
  run stays within (cases x timeout) plus start-up.

Bounds are generous (a few timeouts plus seconds of slack for loaded machines, against a hostile
hold of 30 s): they prove "no hang", not speed.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import time
import tracemalloc
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
import trustme
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.suite import _hostile as H

from pytest_wsgateway import http1
from pytest_wsgateway.cases import load_catalogue
from pytest_wsgateway.exchange import ConnectError, Exchange
from pytest_wsgateway.frames import close_payload
from pytest_wsgateway.handshake import MAX_HEAD_BYTES
from pytest_wsgateway.runner import run_case
from pytest_wsgateway.targets import parse_url

T = 0.3  # --gateway-timeout for every hostile run
REQUEST = (
    b"GET /websocket-test HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
STEPS = (("ping", b"hostile"), ("close", close_payload(1000)))


@dataclass(frozen=True)
class Hostile:
    id: str
    behaviour: H.Behaviour
    #: None: ws://; "plain": a wss:// URL on a plain TCP server; otherwise the server certificate:
    #: "good" (trusted, right host), "wrong-host", "untrusted-ca"
    tls: str | None
    #: regex of the one-line reason (T is 0.3 s)
    reason: str
    #: the cases whose failure must carry that reason (a 101-then-silence passes handshake cases)
    tunnel_only: bool = False


_TIMED_OUT_HEAD = r"no complete response head within 0\.3 s \(\d+ bytes received\)"
_CLOSED = r"connection reset by the target|the target closed the connection without a response"

HOSTILES = [
    Hostile("never-answers", H.never_answers, None, r"no complete response head within 0\.3 s \(0 bytes received\)"),
    Hostile("random-bytes", H.random_bytes, None, _TIMED_OUT_HEAD + r"|the response is not HTTP: .+"),
    Hostile("reset", H.reset_at_once, None, r"connection reset by the target"),
    Hostile("close-at-once", H.close_at_once, None, _CLOSED),
    Hostile("endless-head", H.endless_head, None, rf"the response head exceeds {MAX_HEAD_BYTES} bytes without ending"),
    Hostile("10mb-head", H.ten_mb_head, None, rf"the response head exceeds {MAX_HEAD_BYTES} bytes without ending"),
    Hostile("101-then-nothing", H.valid_101_then_nothing, None,
            r"no answer to the (ping|close|text) frame within 0\.3 s", tunnel_only=True),
    Hostile("trickle-1s", H.trickle(1.0), None, _TIMED_OUT_HEAD),
    Hostile("frame-flood", H.flood_frames_after_101, None,
            rf"more than {http1.MAX_TUNNEL_BYTES} bytes after the 101 without an answer to the (ping|close|text) frame",
            tunnel_only=True),
    Hostile("tls-silent", H.never_answers, "plain", r"TLS handshake with 127\.0\.0\.1:\d+ did not finish within 0\.3 s"),
    Hostile("tls-plaintext", H.plaintext_answer, "plain", r"TLS handshake with 127\.0\.0\.1:\d+ failed: \S.*"),
    Hostile("tls-abort", H.tls_abort, "plain", r"TLS handshake with 127\.0\.0\.1:\d+ failed: \S.*"),
    Hostile("tls-wrong-host", H.valid_101_then_nothing, "wrong-host",
            r"TLS certificate of 127\.0\.0\.1:\d+ rejected: .*mismatch.*"),
    Hostile("tls-untrusted-ca", H.valid_101_then_nothing, "untrusted-ca",
            r"TLS certificate of 127\.0\.0\.1:\d+ rejected: .*(issuer|self.signed|untrusted).*"),
    Hostile("tls-101-then-nothing", H.valid_101_then_nothing, "good",
            r"no answer to the (ping|close|text) frame within 0\.3 s", tunnel_only=True),
    Hostile("tls-trickle-1s", H.trickle(1.0), "good", _TIMED_OUT_HEAD),
    Hostile("tls-reset", H.reset_at_once, "good", _CLOSED + r"|TLS error: .+"),
]


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    """The CA the suite trusts (a PEM file) and server contexts: good, wrong host, untrusted CA."""
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("hostile-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    def context(cert: trustme.LeafCert) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        return ctx

    contexts = {
        "good": context(ca.issue_cert("127.0.0.1")),
        "wrong-host": context(ca.issue_cert("wrong.example")),
        "untrusted-ca": context(trustme.CA().issue_cert("127.0.0.1")),
    }
    return str(ca_file), contexts


@contextlib.contextmanager
def serve(hostile: Hostile, contexts: dict[str, ssl.SSLContext]):
    server_tls = contexts.get(hostile.tls) if hostile.tls not in (None, "plain") else None
    with H.hostile_server(hostile.behaviour, tls=server_tls) as (url, stats):
        if hostile.tls == "plain":
            url = url.replace("ws://", "wss://", 1)
        yield url, stats


def _one_line_reason(target, timeout: float, steps=STEPS) -> tuple[str, Exchange | None]:
    try:
        ex = http1.exchange(target, REQUEST, timeout=timeout, steps=steps)
    except ConnectError as exc:
        return str(exc), None
    return str(ex.error or ex.frame_error or ""), ex


# --- in-process: the client itself ---------------------------------------------------------------


@pytest.mark.parametrize("hostile", HOSTILES, ids=[h.id for h in HOSTILES])
def test_exchange_ends_within_its_deadline_with_one_line(hostile, tls):
    ca_file, contexts = tls
    with serve(hostile, contexts) as (url, _):
        target = parse_url(url, ca_file=ca_file)
        started = time.monotonic()
        reason, _ = _one_line_reason(target, T)
        elapsed = time.monotonic() - started
    # connect + TLS + head + one step at most, with a wide margin (loaded CI machines): a hang
    # would take the hostile server's hold, 30 s.
    assert elapsed < 4 * T + 3.0, f"{hostile.id}: exchange took {elapsed:.2f} s"
    assert "\n" not in reason and reason, f"{hostile.id}: {reason!r}"
    assert re.fullmatch(hostile.reason, reason), f"{hostile.id}: {reason!r}"


def test_trickling_bytes_do_not_keep_a_read_alive_past_the_deadline():
    """Bytes keep coming (every 50 ms) yet the head read ends at its deadline, not at the last byte."""
    with H.hostile_server(H.trickle(0.05)) as (url, stats):
        started = time.monotonic()
        ex = http1.exchange(parse_url(url), REQUEST, timeout=0.5)
        elapsed = time.monotonic() - started
    assert ex.response is None
    assert re.fullmatch(r"no complete response head within 0\.5 s \((\d+) bytes received\)", str(ex.error))
    assert 0 < len(ex.response_head) < 60  # it was still arriving: 129 bytes would take 6.5 s
    assert 0.45 < elapsed < 0.5 + 3.0


def test_a_101_then_silence_ends_each_step_at_its_deadline():
    """Only the first unanswered step waits (one timeout), then the exchange gives up."""
    steps = (("ping", b"a"), ("ping", b"b"), ("text", b"c"), ("close", close_payload(1000)))
    with H.hostile_server(H.valid_101_then_nothing) as (url, _):
        started = time.monotonic()
        ex = http1.exchange(parse_url(url), REQUEST, timeout=T, steps=steps)
        elapsed = time.monotonic() - started
    assert ex.response is not None and ex.response.status == 101
    assert str(ex.frame_error) == f"no answer to the ping frame within {T:g} s"
    assert ex.sent == ["ping frame (1 bytes)"]
    assert elapsed < 2 * T + 3.0


@pytest.mark.parametrize(
    "behaviour, timeout, limit",
    [
        # a 10 MB head: the client keeps at most MAX_HEAD_BYTES plus one read
        (H.ten_mb_head, 2.0, 1 << 20),
        (H.endless_head, 2.0, 1 << 20),
        # frames without end after a 101: at most MAX_TUNNEL_BYTES (4 MiB) read, not GBs in 2 s
        (H.flood_frames_after_101, 2.0, 3 * http1.MAX_TUNNEL_BYTES),
    ],
    ids=["10mb-head", "endless-head", "frame-flood"],
)
def test_memory_stays_bounded_against_a_flood(behaviour, timeout, limit):
    with H.hostile_server(behaviour) as (url, _):
        target = parse_url(url)
        tracemalloc.start()
        try:
            started = time.monotonic()
            ex = http1.exchange(target, REQUEST, timeout=timeout, steps=STEPS)
            elapsed = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert peak < limit, f"peak {peak} bytes traced while reading ({ex.error or ex.frame_error})"
    assert len(ex.response_head) <= MAX_HEAD_BYTES
    assert len(ex.early) <= 65536
    assert sum(len(frame.payload) for frame in ex.frames) <= http1.MAX_TUNNEL_BYTES + (1 << 20)
    assert elapsed < timeout + 3.0
    if behaviour is not H.flood_frames_after_101:
        assert str(ex.error) == f"the response head exceeds {MAX_HEAD_BYTES} bytes without ending"
        assert len(ex.response_head) == MAX_HEAD_BYTES


# --- in-process: any answer at all never crashes the harness ---------------------------------------

_CASES = [case for case in load_catalogue() if case.transport == "http/1.1"]  # the fake answers HTTP/1.1

_status_lines = st.sampled_from(
    [b"HTTP/1.1 101 Switching Protocols", b"HTTP/1.1 400 Bad Request", b"HTTP/1.0 101 OK", b"HTTP/1.1 101",
     b"HTTP/1.1 999 Weird", b"HTTP/1.1 abc Nope", b"ICY 200 OK", b"HTTP/1.1  101  x", b"", b"\x00\xff\xfe"]
)
_header_lines = st.one_of(
    st.sampled_from([b"Upgrade: websocket", b"Connection: Upgrade", b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                     b"Sec-WebSocket-Protocol: chat", b"Sec-WebSocket-Extensions: permessage-deflate; x=\x01",
                     b"Content-Length: 12", b"Transfer-Encoding: chunked", b"Sec-WebSocket-Version: 13, 8",
                     b": empty name", b"NoColon", b" folded", b"X: \xc3\x28\xff"]),
    st.binary(max_size=60).map(lambda b: b.replace(b"\r\n", b"")),
)
_frames = st.one_of(
    st.just(b""),
    st.binary(max_size=200),
    st.sampled_from([b"\x8a\x07hostile", b"\x88\x02\x03\xe8", b"\x89\x00", b"\x81\x05hello", b"\x82\x7e\xff\xff",
                     b"\x8f\x00", b"\x08\x7e\x01\x00", b"\x81\x7f" + b"\xff" * 8]),
)
_answers = st.one_of(
    st.binary(max_size=400),
    st.tuples(_status_lines, st.lists(_header_lines, max_size=8), st.sampled_from([b"\r\n", b"\n", b"\r"]), _frames).map(
        lambda p: p[0] + p[2] + p[2].join(p[1]) + p[2] + p[2] + p[3]
    ),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=_answers, case=st.sampled_from(_CASES), close=st.booleans())
def test_any_answer_gives_a_verdict_not_a_crash(answer, case, close):
    """Whatever a target sends (then closes, or goes silent), ``run_case`` returns an outcome whose
    message renders; only the socket is faked (a socketpair holding the answer)."""
    ours, theirs = socket.socketpair()
    try:
        theirs.sendall(answer)
        if close:
            theirs.shutdown(socket.SHUT_WR)
        target = parse_url("ws://127.0.0.1:9/websocket-test")  # never dialled: connect is patched
        with mock.patch.object(http1, "connect", lambda *a, **k: ours):
            outcome = run_case(case, target.with_settings(timeout=0.02, echo=True))
        message = outcome.message()
        assert message.startswith(f"[{case.level}] {case.id}")
        if outcome.exchange is not None:
            for reason in (outcome.exchange.error, outcome.exchange.frame_error):
                assert reason is None or "\n" not in str(reason)
    finally:
        ours.close()
        theirs.close()


# --- the real suite in a subprocess ---------------------------------------------------------------

SUBSET = "accept-rfc-vector or reject-key-4-bytes or tunnel-ping-then-close or tunnel-echo-text or tls-alpn-http11"


def _junit_cases(path: Path) -> list[tuple[str, float, str | None]]:
    """(test name, seconds, failure text or None) for every test case in a JUnit XML file."""
    cases = []
    for case in ET.parse(path).getroot().iter("testcase"):
        failure = case.find("failure")
        error = case.find("error")
        assert error is None, f"{case.get('name')}: harness error {error.get('message')}"
        cases.append((case.get("name"), float(case.get("time")), None if failure is None else (failure.text or "")))
    return cases


def _assert_clean_output(result) -> str:
    output = "\n".join(result.outlines + result.errlines)
    assert "Traceback" not in output, output[-3000:]
    assert "INTERNALERROR" not in output, output[-3000:]
    return output


def test_the_suite_against_every_hostile_target(pytester, tls, tmp_path):
    """All hostile targets at once (one subprocess, one target per --gateway-url), a few cases each."""
    ca_file, contexts = tls
    with contextlib.ExitStack() as stack:
        urls = {h.id: stack.enter_context(serve(h, contexts))[0] for h in HOSTILES}
        junit = tmp_path / "junit.xml"
        args = ["--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider", f"--gateway-timeout={T}",
                f"--gateway-ca={ca_file}", "--gateway-echo", "-k", SUBSET, f"--junitxml={junit}", "-q", "-n", "2"]
        args += [f"--gateway-url={url}" for url in urls.values()]
        started = time.monotonic()
        result = pytester.runpytest_subprocess(*args, timeout=240)
        wall = time.monotonic() - started
    output = _assert_clean_output(result)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output[-3000:]
    cases = _junit_cases(junit)
    per_target = {h.id: [c for c in cases if f":{urls[h.id].split(':')[2].split('/')[0]}-" in c[0]] for h in HOSTILES}
    for hostile in HOSTILES:
        ran = per_target[hostile.id]
        assert ran, f"no case ran against {hostile.id}"
        failed = [(name, text) for name, _, text in ran if text is not None]
        assert failed, f"{hostile.id}: every case passed"
        must_carry = [(n, t) for n, t in failed if not hostile.tunnel_only or "tunnel-" in n]
        assert must_carry, f"{hostile.id}: no failure to check the reason of"
        for name, text in must_carry:
            # the reason ends its line; an inconclusive case may add what to do (" -- check ...")
            assert re.search(rf"^(.*: |\(|  actual:   )?({hostile.reason})\)?( -- .+)?$", text, re.M), f"{name}:\n{text}"
        for name, seconds, _ in ran:
            # connect + TLS + head + one step, with a wide margin (a hang would be 30 s: the hold)
            assert seconds < 4 * T + 5.0, f"{name} took {seconds:.2f} s"
    # the whole run: every case's bound, plus interpreter and plugin start-up
    assert wall < len(cases) * (4 * T) + 60, f"{len(cases)} cases took {wall:.1f} s"


def test_the_full_catalogue_against_a_silent_target_is_bounded_with_xdist(pytester, tmp_path):
    """Every case of the catalogue against a target that accepts and never answers, on 2 workers."""
    timeout = 0.15
    with H.hostile_server(H.never_answers) as (url, stats):
        junit = tmp_path / "junit.xml"
        started = time.monotonic()
        result = pytester.runpytest_subprocess(
            "--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider", f"--gateway-url={url}",
            f"--gateway-timeout={timeout}", "--gateway-echo", "-n", "2", f"--junitxml={junit}", "-q",
            timeout=240,
        )
        wall = time.monotonic() - started
    output = _assert_clean_output(result)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, output[-3000:]
    cases = _junit_cases(junit)
    assert len(cases) >= 100  # the full catalogue, not a subset
    for name, seconds, text in cases:
        assert seconds < 2 * timeout + 5.0, f"{name} took {seconds:.2f} s"
        if text is not None:
            assert re.search(r"^INCONCLUSIVE .*: not run: the valid upgrade got no HTTP answer: no complete response "
                             r"head within 0\.15 s \(0 bytes received\)$", text, re.M), text
    # fail fast: the canary of each worker (and a plain GET) are the only requests; every case ends at once
    connections = stats.connections
    assert 1 <= connections <= 4, connections  # per worker: the canary and one plain GET (is it alive?)
    assert wall < 60, f"{len(cases)} cases took {wall:.1f} s"  # a hang guard (start-up of 3 processes), not a goal
    print(f"full catalogue vs silent target: {len(cases)} cases, {connections} connections, {wall:.1f} s with -n 2")
