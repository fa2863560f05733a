"""The suite through real gateways: nginx (the common `map $http_upgrade` recipe, and one without
WebSocket forwarding), HAProxy and Caddy, each a foreground child process on loopback terminating
TLS (trustme) in front of the reference server.

The suite runs once, in-process, over ``wss://`` against all of them; for each gateway the exact
set of failing cases must equal tests/expected_verdicts/<gateway>.yaml: a new failure, a new pass,
or a failure for another reason fails the test. Every gateway process is stopped in teardown and
checked gone.
Skipped where a binary is missing (CI: apt-get install -y nginx haproxy caddy).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket

import pytest
import trustme

from tests.harness import target_id
from tests.interop import _gateways

pytestmark = pytest.mark.usefixtures("no_suite_environment")


@pytest.fixture(scope="module")
def upstream():
    with _gateways.reference_upstream() as port:
        yield port


@pytest.fixture(scope="module")
def tls(tmp_path_factory):
    return _gateways.write_tls_files(trustme.CA(), tmp_path_factory.mktemp("gateway-tls"))


def _skip_if_missing(kind: str) -> None:
    reason = _gateways.missing_binary(kind)
    if reason:
        pytest.skip(reason)


@dataclasses.dataclass
class Gateways:
    running: dict[str, _gateways.RunningGateway]
    ca: str
    recorder: _gateways.VerdictRecorder | None = None


@pytest.fixture(scope="module")
def gateways(upstream, tls, tmp_path_factory):
    """Every installed gateway, running; stopped (and checked gone) after the module."""
    directory = tmp_path_factory.mktemp("gateways")
    with contextlib.ExitStack() as stack:
        running = {kind: stack.enter_context(_gateways.gateway(kind, upstream, directory / kind, tls))
                   for kind in _gateways.KINDS if _gateways.missing_binary(kind) is None}
        pids = {kind: gateway.pids for kind, gateway in running.items()}
        yield Gateways(running, tls.ca)
    left = {kind: _gateways.alive(group) for kind, group in pids.items() if _gateways.alive(group)}
    assert left == {}, f"gateway processes outlived the fixture: {left}"


@pytest.fixture
def verdicts(gateways, pytester):
    """One suite run over wss:// against every running gateway, shared by the per-gateway tests."""
    if gateways.recorder is None and gateways.running:
        recorder = _gateways.VerdictRecorder()
        pytester.inline_run(*_gateways.suite_args([g.url for g in gateways.running.values()], gateways.ca),
                            plugins=[recorder])
        gateways.recorder = recorder
    return gateways.recorder


@pytest.mark.parametrize("kind", list(_gateways.KINDS))
def test_suite_verdicts_through_the_gateway_are_the_expected_ones(kind, gateways, verdicts):
    _skip_if_missing(kind)
    found = verdicts.for_target(target_id(gateways.running[kind].url))
    assert _gateways.compare_with_expected(kind, found, "wss") == []
    # A sanity bound against a broken run (every case being run is checked above): even the
    # misconfigured nginx, which fails every case that needs a 101, has its refusals judged
    # (inconclusive there: it refuses the valid upgrade too) rather than errored.
    assert sum(verdict.outcome in ("passed", "inconclusive") for verdict in found.values()) >= 50


#: The largest message each gateway carries by default (bytes; docs/gateways.md says the same): the
#: size ladder up to 16 MiB, text and binary, one frame and fragmented, through the gateway to the
#: reference backend (which carries 16 MiB). None: no message gets through (no 101).
LARGEST_MESSAGE = {"nginx-map-recipe": 16 << 20, "nginx-no-upgrade": None, "haproxy": 16 << 20, "caddy": 16 << 20}


class _Sizes:
    """Records each ladder case's ``(largest, limit)`` JUnit properties per target."""

    def __init__(self) -> None:
        self.found: dict[str, list[tuple[int | None, str | None]]] = {}

    def pytest_runtest_logreport(self, report) -> None:
        props = dict(report.user_properties)
        if report.when == "call" and ("wsgateway_largest_message" in props or "wsgateway_message_limit" in props):
            self.found.setdefault(str(props["wsgateway_target"]), []).append(
                (props.get("wsgateway_largest_message"), props.get("wsgateway_message_limit")))


def test_the_largest_message_each_gateway_carries_by_default(gateways, pytester):
    """The size ladder with the rungs over 1 MiB (--gateway-max-message 16 MiB) through every gateway:
    the largest message that comes back intact is the one docs/gateways.md records."""
    from pytest_wsgateway.reports import message_sizes

    sizes = _Sizes()
    pytester.inline_run(*_gateways.suite_args([g.url for g in gateways.running.values()], gateways.ca),
                        "--gateway-max-message=16777216", "-k", "tunnel-size", plugins=[sizes])
    text = (_gateways.Path(__file__).resolve().parents[2] / "docs" / "gateways.md").read_text(encoding="utf-8")
    for kind, running in gateways.running.items():
        largest, limit = message_sizes(sizes.found.get(target_id(running.url), []))
        assert (largest, limit) == (LARGEST_MESSAGE[kind], None if largest else limit), (kind, largest, limit)
        shown = "none (no 101)" if largest is None else f"{largest:,} bytes"
        assert f"| {kind} | {shown} |" in text, f"docs/gateways.md: the largest message of {kind} is {shown}"


def test_the_misconfigured_nginx_fails_the_101_cases():
    """The file itself must say so: a gateway without WebSocket forwarding never upgrades."""
    expected = _gateways.load_expected(_gateways.EXPECTED_DIR / "nginx-no-upgrade.yaml")
    for case in ("upgrade-status-101", "accept-rfc-vector", "tunnel-ping-pong", "tls-certificate-verified"):
        assert case in expected


def test_docs_show_the_configurations_the_tests_run():
    text = (_gateways.Path(__file__).resolve().parents[2] / "docs" / "gateways.md").read_text(encoding="utf-8")
    for kind in _gateways.KINDS:
        assert _gateways.rendered_config(kind).strip() in text, f"docs/gateways.md shows an outdated {kind} config"


def test_stopping_a_gateway_ends_its_whole_process_group(upstream, tls, tmp_path):
    _skip_if_missing("nginx-map-recipe")
    if not os.path.isdir("/proc/self"):
        pytest.skip("process groups are read from Linux's /proc")
    with _gateways.gateway("nginx-map-recipe", upstream, tmp_path, tls) as gateway:
        pids = gateway.pids
        assert len(_gateways.alive(pids)) >= 2  # the master and its worker, one process group
    assert _gateways.alive(pids) == []
    assert not [pid for pid in _gateways.leftover_processes() if pid in pids]


def test_a_port_taken_before_the_gateway_binds_it_is_retried_on_a_fresh_one(upstream, tls, tmp_path, monkeypatch):
    """The free-port race, forced: the first port handed out is already in use by a listener."""
    _skip_if_missing("haproxy")
    real_free_port = _gateways.free_port
    with socket.create_server((_gateways.HOST, 0)) as squatter:
        taken = squatter.getsockname()[1]
        ports = iter([taken])
        monkeypatch.setattr(_gateways, "free_port", lambda: next(ports, None) or real_free_port())
        with _gateways.gateway("haproxy", upstream, tmp_path, tls) as gateway:
            assert gateway.port != taken
            assert "already in use" in (tmp_path / "haproxy-1.log").read_text().lower()
            with socket.create_connection((_gateways.HOST, gateway.port), timeout=5):
                pass


def test_no_gateway_process_started_by_these_tests_is_left(gateways):
    """Runs last: only the module's own gateways still run (the fixture's teardown checks those)."""
    running = {pid for gateway in gateways.running.values() for pid in gateway.pids}
    assert set(_gateways.leftover_processes()) == running
