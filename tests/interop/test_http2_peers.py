"""The HTTP/2 family (conformance/cases/09-http2.yaml, RFC 8441) against real HTTP/2 peers.

hypercorn (PyPI) serves a minimal ASGI echo app over TLS with ALPN ``h2`` (``wss://``) and over
h2c with prior knowledge (``ws://``), on loopback sockets bound beforehand, in a thread with its own
event loop. The suite runs its ``h2-`` cases with ``--gateway-http2 on`` against both; the exact set
of failing cases must equal tests/expected_verdicts/<peer>.yaml (each failure a real deviation, with
evidence). A loopback test drives the transport directly, and a server that does not offer extended
CONNECT shows "RFC 8441 not offered": skipped, never failed.

Real gateways with an HTTP/2 TLS listener in front of the reference server's HTTP/1.1 ws:// listener
(tests/interop/_gateways.py): HAProxy, Apache (``H2WebSockets on``) and nghttpx are pinned the same
way; nginx and Caddy, which do not offer RFC 8441, are the controls (their files say ``not_offered``).
The HTTP/1.1 suite also runs through Apache's and nghttpx's listeners (``apache.yaml``, ``nghttpx.yaml``).
A missing binary skips its tests, except under ``CI=true`` (:func:`_gateways.require_binary`).
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pytest
import trustme

from tests.harness import bind_loopback, target_id
from tests.interop import _gateways
from tests.interop._servers import HYPERCORN_IDLE, hypercorn_server

from pytest_wsgateway.cases import load_catalogue

pytestmark = [pytest.mark.usefixtures("no_suite_environment"),
              pytest.mark.filterwarnings(f"ignore:{HYPERCORN_IDLE}:RuntimeWarning")]


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return _gateways.write_tls_files(trustme.CA(), tmp_path_factory.mktemp("h2-tls"))


@pytest.fixture(scope="module")
def hypercorn(tls):
    with hypercorn_server(tls) as wss, hypercorn_server(tls, h2c=True) as ws:
        yield {"wss": wss, "ws": ws}
    # (Only the servers' own threads: the suite runs in between may leave their engines' idle pool
    # threads winding down.)
    left = [thread for thread in threading.enumerate() if thread.name == "hypercorn" and thread.is_alive()]
    assert left == [], f"server threads outlived the fixture: {left}"


def _h2_suite(pytester, urls: list[str], ca: str | None, mode: str = "on") -> _gateways.VerdictRecorder:
    recorder = _gateways.VerdictRecorder()
    # (The nested run collects garbage at its end: hypercorn's, too -- see HYPERCORN_IDLE.)
    pytester.inline_run(*_gateways.suite_args(urls, ca), f"--gateway-http2={mode}", "-k", "h2-",
                        "-W", f"ignore:{HYPERCORN_IDLE}:RuntimeWarning", plugins=[recorder])
    return recorder


@pytest.mark.parametrize("scheme", ["wss", "ws"])
def test_suite_verdicts_on_hypercorn_are_the_expected_ones(hypercorn, tls, pytester, scheme):
    url = hypercorn[scheme]
    found = _h2_suite(pytester, [url], tls.ca).for_target(target_id(url))
    assert _gateways.compare_with_expected("hypercorn", found, scheme, transport="h2") == []
    assert sum(verdict.outcome == "passed" for verdict in found.values()) >= 7


def test_transport_on_loopback_carries_frames_over_the_stream(hypercorn, tls):
    from pytest_wsgateway import frames, http2
    from pytest_wsgateway.cases import RequestSpec, render_h2_request
    from pytest_wsgateway.targets import parse_url

    target = parse_url(hypercorn["wss"], ca_file=tls.ca)
    request = render_h2_request(RequestSpec(), host=target.host_header, resource=target.resource, secure=True)
    exchange = http2.exchange(target, request, timeout=5,
                              steps=(("second-stream", b"2"), ("ping", b"p"), ("text", b"hello"),
                                     ("close", frames.close_payload(1000))))
    assert exchange.tls is not None and exchange.tls.alpn == "h2"
    assert exchange.settings is not None and exchange.settings.get(8) == 1
    assert exchange.response is not None and exchange.response.status == 200 and exchange.upgraded
    assert exchange.response_head.startswith(b":status: 200\r\n")
    assert [frame.opcode for frame in exchange.frames] == [frames.PONG, frames.TEXT, frames.CLOSE]
    assert exchange.frames[1].payload == b"hello" and exchange.frame_error is None
    second = exchange.second  # opened while the first stream was open, on the same connection
    assert second is not None and second.upgraded and [(f.opcode, f.payload) for f in second.frames] == [
        (frames.PONG, b"2")]


def test_transport_reports_an_unreachable_target():
    from pytest_wsgateway import http2
    from pytest_wsgateway.targets import parse_url

    sock = bind_loopback()
    port = sock.getsockname()[1]
    sock.close()
    # (By name: pytester's runs in this module re-import the package, so class identity may differ.)
    with pytest.raises(Exception) as caught:  # noqa: PT011
        http2.exchange(parse_url(f"ws://127.0.0.1:{port}/"), b":method: CONNECT\r\n\r\n", timeout=2)
    assert type(caught.value).__name__ == "ConnectError" and caught.value.error.kind == "connect"


def test_transport_times_out_on_a_silent_server():
    from pytest_wsgateway import http2
    from pytest_wsgateway.targets import parse_url

    sock = bind_loopback(backlog=4)  # accepts (the backlog) but never answers
    try:
        port = sock.getsockname()[1]
        exchange = http2.exchange(parse_url(f"ws://127.0.0.1:{port}/"), b":method: CONNECT\r\n\r\n", timeout=0.5)
    finally:
        sock.close()
    assert exchange.error is not None and exchange.error.kind == "not-h2"
    assert exchange.settings is None and "0.5 s" in exchange.error.message


def test_not_offered_skips_the_family_and_never_fails(tls, pytester):
    with hypercorn_server(tls, enable_connect=False) as url:
        auto = _h2_suite(pytester, [url], tls.ca, mode="auto").for_target(target_id(url))
        on = _h2_suite(pytester, [url], tls.ca, mode="on").for_target(target_id(url))
    assert auto and {verdict.outcome for verdict in auto.values()} == {"skipped"}
    # (a case that needs a setting this run does not give, e.g. --gateway-subprotocol, is skipped for that first)
    needs = {case.id for case in load_catalogue() if case.transport == "h2" and {"subprotocol", "api"} & set(case.requires)}
    assert needs and all("RFC 8441 not offered" in verdict.message for case, verdict in auto.items() if case not in needs)
    # Asked for with "on", the advertisement case fails; the others are still skipped, not failed.
    assert on.pop("h2-settings-enable-connect-protocol").outcome == "failed"
    assert on and {verdict.outcome for verdict in on.values()} == {"skipped"}


def test_an_http11_only_server_does_not_offer_http2(pytester, tls):
    from pytest_wsgateway import http2
    from pytest_wsgateway.cases import RequestSpec, render_h2_request
    from pytest_wsgateway.checks import h2_not_offered
    from pytest_wsgateway.targets import parse_url

    with hypercorn_server(tls) as url:
        # Offer only http/1.1 in ALPN: the server cannot select h2.
        import ssl

        context = ssl.create_default_context(cafile=tls.ca)
        context.set_alpn_protocols(["http/1.1"])
        target = parse_url(url, ca_file=tls.ca)
        request = render_h2_request(RequestSpec(), host=target.host_header, resource=target.resource, secure=True)
        exchange = http2.exchange(target, request, timeout=5, context=context)
    assert exchange.error is not None and exchange.error.kind == "not-h2"
    assert (h2_not_offered(exchange) or "").startswith("RFC 8441 not offered: HTTP/2 not offered")


def test_every_http2_peer_has_an_expected_verdicts_file():
    assert all((_gateways.EXPECTED_DIR / f"{peer}.yaml").is_file() for peer in _gateways.H2_PEERS)


#: The gateways with an HTTP/2 TLS listener in front of the reference server's ws:// listener, each
#: expected to offer RFC 8441 (the controls are :data:`_gateways.H2_CONTROLS`).
H2_GATEWAYS = ("haproxy-h2", "apache-h2", "nghttpx-h2")


@pytest.fixture(scope="module")
def h2_gateways(tls, tmp_path_factory):
    """A function starting (on first use) HTTP/2 gateway ``kind`` in front of one reference ws://
    listener; every gateway started is stopped, and checked gone, after the module."""
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(_gateways.reference_upstream())
        running: dict[str, _gateways.RunningGateway] = {}

        def start(kind: str) -> str:
            _gateways.require_binary(kind)
            if kind not in running:
                running[kind] = stack.enter_context(
                    _gateways.gateway(kind, upstream, tmp_path_factory.mktemp(kind), tls))
            return running[kind].url

        yield start
        pids = {kind: gateway.pids for kind, gateway in running.items()}
    left = {kind: _gateways.alive(group) for kind, group in pids.items() if _gateways.alive(group)}
    assert left == {}, f"gateway processes outlived the fixture: {left}"


@pytest.mark.parametrize("kind", H2_GATEWAYS)
def test_suite_verdicts_on_h2_gateways_are_the_expected_ones(h2_gateways, tls, pytester, kind):
    url = h2_gateways(kind)
    found = _h2_suite(pytester, [url], tls.ca).for_target(target_id(url))
    assert _gateways.compare_with_expected(kind, found, "wss", transport="h2") == []
    assert sum(verdict.outcome == "passed" for verdict in found.values()) >= 6


@pytest.mark.parametrize("name", sorted(_gateways.H11_VIA_H2))
def test_http11_suite_verdicts_through_h2_gateways_are_the_expected_ones(h2_gateways, tls, pytester, name):
    """The HTTP/1.1 suite (``--gateway-http2`` off) through the same listener: ALPN selects http/1.1."""
    url = h2_gateways(_gateways.H11_VIA_H2[name])
    recorder = _gateways.VerdictRecorder()
    pytester.inline_run(*_gateways.suite_args([url], tls.ca), plugins=[recorder])
    found = recorder.for_target(target_id(url))
    assert _gateways.compare_with_expected(name, found, "wss") == []
    assert sum(verdict.outcome == "passed" for verdict in found.values()) >= 100


@pytest.mark.parametrize("kind", _gateways.H2_CONTROLS)
def test_not_advertising_gateways_are_reported_not_offered(h2_gateways, tls, pytester, kind):
    """nginx and Caddy speak HTTP/2 on their TLS listener but do not offer RFC 8441: under ``auto``
    the family reports that (every case skipped with the reason, information), under ``on`` only the
    advertisement case fails, showing what the gateway did with the extended CONNECT sent anyway."""
    url = h2_gateways(kind)
    expected = _gateways.EXPECTED_DIR / f"{kind}.yaml"
    assert _gateways.load_not_offered(expected), f"{kind}: a control needs `not_offered` in {expected.name}"
    auto = _h2_suite(pytester, [url], tls.ca, mode="auto").for_target(target_id(url))
    assert _gateways.compare_with_expected(kind, auto, "wss", transport="h2") == []
    on = _h2_suite(pytester, [url], tls.ca, mode="on").for_target(target_id(url))
    advertisement = on.pop("h2-settings-enable-connect-protocol")
    assert advertisement.outcome == "failed"
    import yaml

    sent_anyway = yaml.safe_load(expected.read_text(encoding="utf-8"))["sent_anyway"]
    assert sent_anyway in advertisement.message, advertisement.message[:1500]
    assert on and {verdict.outcome for verdict in on.values()} == {"skipped"}


def test_a_missing_gateway_skips_locally_and_fails_under_ci(monkeypatch):
    monkeypatch.setitem(_gateways.H2_PEERS, "absent-h2", "wsgateway-no-such-binary")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="wsgateway-no-such-binary is not installed"):
        _gateways.require_binary("absent-h2")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        _gateways.require_binary("absent-h2")


def test_docs_show_the_h2_gateway_configurations():
    text = (Path(__file__).resolve().parents[2] / "docs" / "http2.md").read_text(encoding="utf-8")
    for kind in ("apache-h2", "nghttpx-h2", "nginx-h2"):
        assert _gateways.rendered_config(kind).strip() in text, f"docs/http2.md shows an outdated {kind} config"


def test_docs_peer_table_matches_the_expected_verdicts():
    """docs/http2.md's peers × cases table says what tests/expected_verdicts/<peer>.yaml pins: **FAIL**
    exactly for the listed failures, – for every case of a control (not offered), pass otherwise."""
    from pytest_wsgateway.cases import load_catalogue

    text = (Path(__file__).resolve().parents[2] / "docs" / "http2.md").read_text(encoding="utf-8")
    lines = text[text.index("## Peers × cases"):].splitlines()
    head = next(index for index, line in enumerate(lines) if line.startswith("| case |"))
    peers = [cell.strip(" `") for cell in lines[head].strip("|").split("|")[1:]]
    assert set(peers) == set(_gateways.H2_PEERS)
    rows = {}
    for line in lines[head + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0].strip("`")] = dict(zip(peers, cells[1:]))
    assert list(rows) == [case.id for case in load_catalogue() if case.transport == "h2"]
    # skipped on every peer: these runs give no --gateway-subprotocol (_gateways.suite_args)
    needs_setting = {case.id for case in load_catalogue() if case.transport == "h2" and "subprotocol" in case.requires}
    for peer in peers:
        path = _gateways.EXPECTED_DIR / f"{peer}.yaml"
        failures, not_offered = _gateways.load_expected(path), _gateways.load_not_offered(path)
        for case, cells in rows.items():
            wanted = ("–" if not_offered else "**FAIL**" if case in failures
                      else "n/a" if case in needs_setting else "pass")
            assert cells[peer] == wanted, f"docs/http2.md: {case} on {peer} says {cells[peer]}, the pinned verdict is {wanted}"


@pytest.mark.parametrize("kind", ["apache-h2", "nghttpx-h2"])
def test_a_port_taken_before_the_h2_gateway_binds_it_is_retried_on_a_fresh_one(kind, tls, tmp_path, monkeypatch):
    """The free-port race, forced: the gateway must say "already in use" where the harness reads it
    (its stdout/stderr log), so the harness retries on a fresh port instead of failing."""
    import socket

    _gateways.require_binary(kind)
    real_free_port = _gateways.free_port
    with socket.create_server((_gateways.HOST, 0)) as squatter, _gateways.reference_upstream() as upstream:
        taken = squatter.getsockname()[1]
        ports = iter([taken])
        monkeypatch.setattr(_gateways, "free_port", lambda: next(ports, None) or real_free_port())
        with _gateways.gateway(kind, upstream, tmp_path, tls) as gateway:
            assert gateway.port != taken
            assert "already in use" in (tmp_path / f"{kind}-1.log").read_text().lower()
            with socket.create_connection((_gateways.HOST, gateway.port), timeout=5):
                pass
