"""Headless Chromium over HTTP/2 (RFC 8441) against the reference server and its HTTP/2 fault profiles
(tests/interop/_chromium_h2.py): Chromium uses h2 where the setting is advertised and an HTTP/2
connection exists, its open/refuse equals the suite's verdict except where a disagreement is pinned
with its reason, and the table in docs/http2.md is current.

Skipped, with the install line, where Chromium or certutil is missing (CI installs both).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.interop import _chromium, _chromium_h2

from pytest_wsgateway import browser
from pytest_wsgateway.reference_server import ReferenceServer, ServerConfig, issue_server_cert, make_ca, \
    server_ssl_context, write_ca_pem

ROOT = Path(__file__).resolve().parents[2]
MISSING = _chromium.missing_tools()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    return _chromium_h2.run(tmp_path_factory.mktemp("chromium-h2"))


def test_chromium_speaks_rfc8441_to_the_reference_server(rows):
    used = {row.target: row.protocol for row in rows}
    assert used["reference"] == "h2"
    # Not advertised: Chromium does not send :protocol (RFC 8441 §3) and opens over HTTP/1.1 instead.
    assert used["accepts-without-advertising"] == "http/1.1"
    assert {used[name] for name in _chromium_h2.H2_PROFILES if name != "accepts-without-advertising"} == {"h2"}
    assert all(row.protocol == row.suite_protocol for row in rows)  # the suite judged the protocol Chromium used


def test_chromium_agrees_with_the_suite_except_where_pinned(rows):
    assert set(_chromium_h2.H2_PROFILES) == {row.target for row in rows} - {"reference"}
    disagree = {row.target for row in rows if not row.agree}
    assert disagree == set(_chromium_h2.KNOWN_DISAGREEMENTS), [
        f"{row.target} / {row.offer}: Chromium {row.browser_text()}, suite {row.suite_text()}" for row in rows
        if not row.agree]
    # end-stream-on-200: Chromium reports open, then the connection is gone at once (1006, no close frame).
    for row in rows:
        if row.target == "end-stream-on-200":
            assert row.browser.opened and row.browser.close_code == 1006
    assert {row.browser.opened for row in rows} == {True, False}


def test_chromium_uses_http11_without_an_http2_connection_to_the_origin(tmp_path):
    """Why the page fetches first: without it, the same server gets HTTP/1.1 WebSockets from Chromium."""
    ca = make_ca()
    config = ServerConfig(schemes=("wss",), ssl_context=server_ssl_context(issue_server_cert(ca)))
    with ReferenceServer(config) as server:
        (result,) = browser.probe([browser.Probe(server.urls["wss"])], chromium=_chromium.chromium(),
                                  ca_pem=str(write_ca_pem(ca, tmp_path / "ca.pem")), timeout=_chromium.TIMEOUT)
        assert result.opened
        assert dict(server.handshakes) == {"http/1.1": 1}


def test_the_table_in_docs_http2_is_current(rows):
    spec = importlib.util.spec_from_file_location("gen_browser_h2", ROOT / "docs" / "gen_browser_h2.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    current = generator.current_section((ROOT / "docs" / "http2.md").read_text(encoding="utf-8"))
    fresh = _chromium_h2.render(rows, _chromium.chromium_version())
    assert generator.comparable(current) == generator.comparable(fresh), \
        "docs/http2.md (Chromium over HTTP/2) is stale: run python docs/gen_browser_h2.py"
