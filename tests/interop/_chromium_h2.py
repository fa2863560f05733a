"""Chromium over HTTP/2 (RFC 8441) against the reference server: which protocol it uses, and whether
its open/refuse matches the suite's HTTP/2 client verdict on each HTTP/2 fault profile.

The targets: the reference server's wss:// listener (ALPN ``h2``, SETTINGS_ENABLE_CONNECT_PROTOCOL
= 1), correct and with each fault profile that changes its HTTP/2 behaviour (:data:`H2_PROFILES`).
Chromium opens a wss:// WebSocket as an extended CONNECT only on an HTTP/2 connection it already
has, so the page first fetches each origin (``browser.probe(..., warm_http2=True)``); the protocol
it then used is what the server saw (``ReferenceServer.handshakes``).

The suite's verdict (:func:`suite_verdict`): when the suite finds RFC 8441 not offered, a browser
speaks HTTP/1.1, so the verdict is :func:`pytest_wsgateway.browser.client_verdict`; otherwise it is
the checks an HTTP/2 client applies to the answer of its extended CONNECT (:data:`H2_BROWSER_CHECKS`:
a 200 leaving the stream open, no 101, lowercase field names -- a malformed response is a stream
error, RFC 9113 §8.1.1 -- and, for an offer, one subprotocol selected from it).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.interop import _chromium

from pytest_wsgateway import browser
from pytest_wsgateway.cases import load_catalogue
from pytest_wsgateway.reference_server import (ReferenceServer, ServerConfig, faults, issue_server_cert, make_ca,
                                               server_ssl_context, write_ca_pem)
from pytest_wsgateway.runner import run_case
from pytest_wsgateway.targets import parse_url

TIMEOUT = _chromium.TIMEOUT
SUBPROTOCOL = _chromium.SUBPROTOCOL
OFFERS: dict[str, tuple[str, ...]] = {"no subprotocol": (), f"[{SUBPROTOCOL}]": (SUBPROTOCOL,)}
#: What an HTTP/2 client checks of the answer to its extended CONNECT (the cases they come from).
H2_BROWSER_CASES = ("h2-extended-connect-accepted", "h2-never-101", "h2-lowercase-field-names")
H2_BROWSER_CHECKS = ("h2_accepted", "h2_not_101", "h2_lowercase_fields", "subprotocol_from_offer",
                     "subprotocol_selected")
#: Where Chromium and the suite differ, with the evidence (tests/interop/test_browser_h2.py pins it).
KNOWN_DISAGREEMENTS = {
    "end-stream-on-200": (
        "Chromium fires `open` on a 200 that carries END_STREAM and closes with 1006 right after; the suite "
        "says refuse: RFC 8441 §5 makes the stream the tunnel, and an ended stream carries no frame"),
}


def _speaks_h2(fault: faults.Fault) -> bool:
    return (not fault.h2_advertise or bool(fault.h2_ignores) or fault.h2_respond is not None or fault.h2_end_stream
            or bool(fault.h2_drop_opcodes))


H2_PROFILES = [name for name in faults.names() if _speaks_h2(faults.get(name))]


@dataclasses.dataclass(frozen=True)
class Row:
    target: str
    offer: str
    browser: browser.BrowserResult
    protocol: str  # what Chromium used: h2, http/1.1 (or both, none)
    suite_protocol: str
    suite_opens: bool
    suite_reasons: tuple[str, ...]

    @property
    def agree(self) -> bool:
        return self.browser.opened == self.suite_opens

    def browser_text(self) -> str:
        if self.browser.opened:
            return "open" + (f" (`{self.browser.protocol}`)" if self.browser.protocol else "")
        return f"refuse ({self.browser.reason or self.browser.state})"

    def suite_text(self) -> str:
        return "open" if self.suite_opens else f"refuse ({', '.join(self.suite_reasons)})"


def _protocol(counts) -> str:
    used = [name for name in ("h2", "http/1.1") if counts.get(name)]
    return {0: "none", 1: used[0] if used else "none"}.get(len(used), "both")


def suite_verdict(target, offer: tuple[str, ...]) -> tuple[str, bool, tuple[str, ...]]:
    """(protocol, opens, the requirements that fail) for a browser offering ``offer`` to ``target``."""
    catalogue = {case.id: case for case in load_catalogue()}
    base = catalogue[H2_BROWSER_CASES[0]]
    expect = tuple((name, {}) for name in H2_BROWSER_CHECKS)
    add = (("sec-websocket-protocol", ", ".join(offer)),) if offer else ()
    case = dataclasses.replace(base, id="h2-browser-verdict", expect=expect,
                               request=dataclasses.replace(base.request, add=base.request.add + add))
    outcome = run_case(case, target)
    if outcome.not_offered:
        verdict = browser.client_verdict(target, offer)
        return "http/1.1", verdict.opens, tuple(f.requirement for f in verdict.outcome.findings)
    failures = tuple(f.requirement for f in outcome.findings)
    if outcome.connect_error:
        failures += (str(outcome.connect_error),)
    return "h2", not failures, failures


def run(directory: Path) -> list[Row]:
    ca = make_ca()
    ca_pem = str(write_ca_pem(ca, directory / "ca.pem"))
    servers: dict[str, ReferenceServer] = {}
    try:
        for name in ["reference", *H2_PROFILES]:
            config = ServerConfig(schemes=("wss",), ssl_context=server_ssl_context(issue_server_cert(ca)),
                                  subprotocols=(SUBPROTOCOL,), fault=None if name == "reference" else name)
            servers[name] = ReferenceServer(config).start()
        probes = [browser.Probe(server.urls["wss"], offer) for server in servers.values() for offer in OFFERS.values()]
        results = iter(browser.probe(probes, chromium=_chromium.chromium(), ca_pem=ca_pem, timeout=TIMEOUT,
                                     warm_http2=True))
        rows = []
        for name, server in servers.items():
            protocol = _protocol(server.handshakes)
            for label, offer in OFFERS.items():
                target = parse_url(server.urls["wss"], ca_file=ca_pem, timeout=TIMEOUT, http2="auto",
                                   subprotocols=(SUBPROTOCOL,))
                suite_protocol, opens, reasons = suite_verdict(target, offer)
                rows.append(Row(name, label, next(results), protocol, suite_protocol, opens, reasons))
        return rows
    finally:
        for server in servers.values():
            server.stop()


BEGIN, END = "<!-- chromium-h2: generated by docs/gen_browser_h2.py -->", "<!-- /chromium-h2 -->"


def render(rows: list[Row], chromium_version: str) -> str:
    """The section of docs/http2.md between :data:`BEGIN` and :data:`END` (markers included)."""
    agree = sum(row.agree for row in rows)
    lines = [BEGIN, "",
             f"{chromium_version} (headless), the page first fetching each origin so that "
             "an HTTP/2 connection exists, against the reference server's wss:// listener, correct and with each "
             "HTTP/2 fault profile. *Chromium used*: what the server saw (RFC 8441 extended CONNECT = `h2`). "
             "*suite*: its HTTP/2 client verdict (a 200 leaving the stream open, no 101, lowercase field names, "
             "a subprotocol chosen from the offer), or over HTTP/1.1 its browser verdict where it finds RFC 8441 "
             "not offered.", "",
             f"**Agreement: {agree}/{len(rows)}.**", "",
             "| target | offer | Chromium used | Chromium | suite (protocol) | suite | agree |",
             "|---|---|---|---|---|---|---|"]
    for row in rows:
        note = "yes" if row.agree else f"no: {KNOWN_DISAGREEMENTS.get(row.target, 'not explained')}"
        lines.append(f"| `{row.target}` | {row.offer} | {row.protocol} | {_chromium._cell(row.browser_text())} | "
                     f"{row.suite_protocol} | {_chromium._cell(row.suite_text())} | {note} |")
    return "\n".join(lines + ["", END])
