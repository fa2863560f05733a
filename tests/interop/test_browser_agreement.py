"""A real headless Chromium against every fault profile, real gateway and browser-strictness
variant: its open/refuse must equal the suite's client-side verdict (the ``browser-handshake``
case family) on the same subprotocol offer, and docs/browser-agreement.md must be current.

Skipped, with the install line, where Chromium or certutil is missing (CI installs both).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.interop import _chromium
from tests.interop import _gateways
from tests._targets import raw_server, read_request

from pytest_wsgateway import browser
from pytest_wsgateway.cases import load_catalogue, render_request
from pytest_wsgateway.handshake import parse_request
from pytest_wsgateway.reference_server import faults

ROOT = Path(__file__).resolve().parents[2]
MISSING = _chromium.missing_tools()
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    return _chromium.run_agreement(tmp_path_factory.mktemp("agreement"))


def test_chromium_agrees_with_the_suite_on_every_target_and_offer(rows):
    disagreements = [f"{row.target.name} / {row.offer}: Chromium {row.browser_text()}, suite {row.suite_text()}"
                     for row in rows if not row.agree]
    assert disagreements == []
    names = {row.target.name for row in rows}
    assert set(faults.names()) <= names  # every fault profile took part
    assert {kind for kind in _gateways.KINDS if _gateways.missing_binary(kind) is None} <= names
    # Both outcomes occur: the comparison is not trivially all-open or all-refused.
    assert {row.browser.opened for row in rows} == {True, False}


def test_browsers_refuse_an_unanswered_offer_that_rfc_6455_allows(rows):
    """The motivating case: a 101 without Sec-WebSocket-Protocol to an offer of two."""
    row = next(r for r in rows if r.target.name == "omits-subprotocol" and r.offer.startswith("[chat"))
    assert not row.browser.opened and "Sec-WebSocket-Protocol" in row.browser.reason
    assert not row.suite.opens
    assert [f.requirement for f in row.suite.outcome.findings] == [
        "WHATWG Fetch: a browser that offered subprotocols needs one selected"]


def test_agreement_table_is_current(rows):
    missing = [kind for kind in _gateways.KINDS if _gateways.missing_binary(kind)]
    if missing:
        pytest.skip(f"the table lists every gateway; missing here: {', '.join(missing)}")
    spec = importlib.util.spec_from_file_location("gen_browser_agreement", ROOT / "docs" / "gen_browser_agreement.py")
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    fresh = _chromium.render(rows, _chromium.chromium_version())
    current = (ROOT / "docs" / "browser-agreement.md").read_text(encoding="utf-8")
    assert generator.comparable(current) == generator.comparable(fresh), \
        "docs/browser-agreement.md is stale: run python docs/gen_browser_agreement.py"


def test_the_browser_shaped_case_sends_the_headers_chromium_sends():
    heads = []

    def record(conn):
        heads.append(read_request(conn))
        conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

    with raw_server(record) as url:
        (result,) = browser.probe([browser.Probe(url)], chromium=_chromium.chromium(), timeout=_chromium.TIMEOUT)
    assert result.state == "refused" and "403" in result.reason
    sent = parse_request(heads[0])
    case = next(case for case in load_catalogue() if case.id == browser.VERDICT_FAMILY)
    ours = parse_request(render_request(case.request, host="h", resource="/", path="/", secure=False)[0])
    assert {n.lower() for n, _ in sent.headers} == {n.lower() for n, _ in ours.headers}
    for name in ("Upgrade", "Connection", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions", "Pragma",
                 "Cache-Control"):
        assert sent.get(name) == ours.get(name), name
