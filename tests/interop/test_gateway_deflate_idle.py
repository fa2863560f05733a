"""permessage-deflate end to end and the idle cut-off through real gateways (nginx, HAProxy, Caddy in
front of the reference server, which negotiates permessage-deflate).

The deflate cases must *pass* through each relaying gateway, not be skipped as "not negotiated": a
skip would hide a gateway that strips ``Sec-WebSocket-Extensions`` (traefik#4843). The idle case
measures each gateway's cut-off with short timeouts written into its configuration (nginx
``proxy_read_timeout 1s``, HAProxy ``timeout tunnel 1s``): the suite must report a cut-off near 1 s
with ``--gateway-idle 2.5``; with the configurations the other tests use (nginx 60 s, HAProxy 60 s,
Caddy no idle timeout) a 2-second quiet connection must survive. docs/gateways.md records the figures.
"""

from __future__ import annotations

import contextlib

import pytest
import trustme

from tests.harness import target_id
from tests.interop import _gateways

pytestmark = pytest.mark.usefixtures("no_suite_environment")

RELAYS = ("nginx-map-recipe", "haproxy", "caddy")
DEFLATE_CASES = ("tunnel-deflate-echo", "tunnel-deflate-context-takeover", "tunnel-deflate-server-no-context-takeover",
                 "tunnel-deflate-client-no-context-takeover", "tunnel-deflate-fragmented",
                 "tunnel-deflate-rsv1-first-frame-only")
#: Short idle timeouts written into the configurations, and the quiet time declared against them.
SHORT = {"nginx-map-recipe": {"proxy_read_timeout 60s;": "proxy_read_timeout 1s;"},
         "haproxy": {"timeout tunnel 60s": "timeout tunnel 1s"}}
DECLARED = 2.5


def _skip_if_missing(kinds) -> None:
    for kind in kinds:
        reason = _gateways.missing_binary(kind)
        if reason:
            pytest.skip(reason)


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return _gateways.write_tls_files(trustme.CA(), tmp_path_factory.mktemp("gateway-tls"))


def _run(pytester, urls, ca, *args) -> _gateways.VerdictRecorder:
    recorder = _gateways.VerdictRecorder()
    pytester.inline_run(*_gateways.suite_args(urls, ca), *args, plugins=[recorder])
    return recorder


def test_compressed_messages_pass_through_every_relay_end_to_end(pytester, tls, tmp_path):
    _skip_if_missing(RELAYS)
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(_gateways.reference_upstream())
        running = {kind: stack.enter_context(_gateways.gateway(kind, port, tmp_path / kind, tls)) for kind in RELAYS}
        recorder = _run(pytester, [g.url for g in running.values()], tls.ca, "-k", "tunnel-deflate")
    for kind, gateway in running.items():
        found = recorder.for_target(target_id(gateway.url))
        assert {case: found[case].outcome for case in DEFLATE_CASES} == dict.fromkeys(DEFLATE_CASES, "passed"), (
            kind, {case: found[case].message[:300] for case in DEFLATE_CASES if found[case].outcome != "passed"})


@pytest.mark.parametrize("kind", list(SHORT))
def test_a_short_idle_timeout_is_reported_as_the_observed_cut_off(pytester, tls, tmp_path, kind, record_property):
    _skip_if_missing((kind,))
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(_gateways.reference_upstream())
        gateway = stack.enter_context(_gateways.gateway(kind, port, tmp_path / kind, tls, timeouts=SHORT[kind]))
        recorder = _run(pytester, [gateway.url], tls.ca, f"--gateway-idle={DECLARED}", "-k", "tunnel-idle")
    verdict = recorder.for_target(target_id(gateway.url))["tunnel-idle"]
    assert verdict.outcome == "failed", verdict
    cut = float(verdict.message.split("observed idle cut-off: ")[1].split(" s")[0])
    record_property("idle_cutoff", cut)
    print(f"{kind}: {verdict.message.splitlines()[4].strip()}")
    assert 0.8 <= cut <= 1.8, verdict.message  # the configured 1 s (timers are coarse under load)


def test_the_default_configurations_keep_a_quiet_tunnel_for_two_seconds(pytester, tls, tmp_path):
    _skip_if_missing(RELAYS)
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(_gateways.reference_upstream())
        running = {kind: stack.enter_context(_gateways.gateway(kind, port, tmp_path / kind, tls)) for kind in RELAYS}
        recorder = _run(pytester, [g.url for g in running.values()], tls.ca, "--gateway-idle=2", "-k", "tunnel-idle")
    for kind, gateway in running.items():
        verdict = recorder.for_target(target_id(gateway.url))["tunnel-idle"]
        assert verdict.outcome == "passed", (kind, verdict.message[:600])
