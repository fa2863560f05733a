"""Real-browser agreement: Chromium's open/refuse against the suite's client-side verdict.

The targets (all on loopback): the reference server over ws and wss, the reference server with
each fault profile (``reference_server.faults``), the real gateways of ``_gateways`` (nginx,
HAProxy, Caddy, in front of a reference server that speaks ``chat``), and a few raw servers that
are correct by RFC 6455 but cross a rule only browsers apply (``STRICTNESS_VARIANTS``).

For each target and each offer in ``OFFERS``, one headless Chromium
(:func:`pytest_wsgateway.browser.probe`) and the suite
(:func:`pytest_wsgateway.browser.client_verdict`: the ``browser-handshake`` case family on the
same offer) each say open or refuse. Both use the same time limit (``TIMEOUT``): a page that
gives up after it and the suite's per-step timeout.

wss trust: Chromium gets the session's trustme CA as a root in a fresh NSS database (certutil,
from libnss3-tools, with HOME set to a temporary directory); no --ignore-certificate-errors.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from tests._targets import raw_server, read_request

from pytest_wsgateway import browser
from pytest_wsgateway.handshake import accept_for, parse_request
from pytest_wsgateway.reference_server import (
    ReferenceServer,
    ServerConfig,
    faults,
    issue_server_cert,
    make_ca,
    server_ssl_context,
    write_ca_pem,
)
from pytest_wsgateway.targets import parse_url

TIMEOUT = 2.0  # seconds: the page's limit per WebSocket and the suite's per network step
SUBPROTOCOL = "chat"  # what the reference server (and the gateways' upstream) speaks
OFFERS: dict[str, tuple[str, ...]] = {
    "no subprotocol": (),
    f"[{SUBPROTOCOL}, x-wsgateway-unknown]": (SUBPROTOCOL, "x-wsgateway-unknown"),
    "[x-wsgateway-unknown-1, x-wsgateway-unknown-2]": ("x-wsgateway-unknown-1", "x-wsgateway-unknown-2"),
}


def chromium() -> str | None:
    return browser.find_chromium()


def missing_tools() -> str | None:
    """Why the Chromium tests cannot run here, or None."""
    if chromium() is None:
        return browser.INSTALL_HINT
    if shutil.which("certutil") is None:
        return "certutil not found (apt-get install -y libnss3-tools): Chromium must trust the test CA for wss"
    return None


# --- raw servers: correct by RFC 6455, refused by browsers (or the reverse) ---------------------------


def _answer(build: Callable[[object, list[tuple[str, str]]], tuple[str, list[tuple[str, str]]]]):
    """A raw handler: a correct 101 for the request, changed by ``build`` (status line, headers)."""

    def handle(conn) -> None:
        head = read_request(conn)
        if not head:
            return
        request = parse_request(head)
        headers = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                   ("Sec-WebSocket-Accept", accept_for(request.get("Sec-WebSocket-Key") or ""))]
        status, headers = build(request, headers)
        conn.sendall((status + "\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n").encode("latin-1"))
        with contextlib.suppress(OSError):
            while conn.recv(4096):  # hold the tunnel until the peer closes
                pass

    return handle


OK = "HTTP/1.1 101 Switching Protocols"


def _first_offer(request) -> list[tuple[str, str]]:
    offered = request.tokens("Sec-WebSocket-Protocol")
    return [("Sec-WebSocket-Protocol", offered[0])] if offered else []


def _with(*extra: tuple[str, str], status: str = OK, pick: bool = True):
    return lambda request, headers: (status, headers + (_first_offer(request) if pick else []) + list(extra))


@dataclasses.dataclass(frozen=True)
class Variant:
    name: str
    doc: str
    build: Callable


STRICTNESS_VARIANTS = (
    Variant("omits-subprotocol", "a correct 101 that never names a subprotocol (allowed by RFC 6455)",
            _with(pick=False)),
    Variant("empty-subprotocol", "a 101 with an empty `Sec-WebSocket-Protocol:` line",
            _with(("Sec-WebSocket-Protocol", ""), pick=False)),
    Variant("deflate-valid", "accepts the browser's offer: `permessage-deflate; server_max_window_bits=12; "
            "client_max_window_bits=12`",
            _with(("Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12"))),
    Variant("deflate-client-bits-no-value", "`permessage-deflate; client_max_window_bits` (no value in a response)",
            _with(("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits"))),
    Variant("deflate-window-bits-7", "`permessage-deflate; server_max_window_bits=7` (outside 8..15)",
            _with(("Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=7"))),
    Variant("deflate-unknown-parameter", "`permessage-deflate; x_level=3` (no such response parameter)",
            _with(("Sec-WebSocket-Extensions", "permessage-deflate; x_level=3"))),
    Variant("deflate-duplicate-parameter", "`server_no_context_takeover` twice",
            _with(("Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover; "
                   "server_no_context_takeover"))),
    Variant("deflate-twice", "`permessage-deflate, permessage-deflate`",
            _with(("Sec-WebSocket-Extensions", "permessage-deflate, permessage-deflate"))),
    Variant("unknown-extension", "`Sec-WebSocket-Extensions: x-wsgateway-ext` (never offered)",
            _with(("Sec-WebSocket-Extensions", "x-wsgateway-ext"))),
    Variant("mixed-case-values", "`Upgrade: WebSocket`, `Connection: keep-alive, UPGRADE` (valid)",
            lambda request, headers: (OK, [("Upgrade", "WebSocket"), ("Connection", "keep-alive, UPGRADE"),
                                           headers[2]] + _first_offer(request))),
    Variant("http10-101", "`HTTP/1.0 101 Switching Protocols` (otherwise correct)",
            _with(status="HTTP/1.0 101 Switching Protocols")),
    Variant("redirect-302", "`302 Found` to the same URL (browsers never follow a WebSocket redirect)",
            lambda request, headers: ("HTTP/1.1 302 Found", [("Location", "/websocket-test"), ("Content-Length", "0")])),
)


# --- the targets ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class AgreementTarget:
    group: str  # reference / fault profile / gateway / browser-strictness variant
    name: str
    doc: str
    url: str


@contextlib.contextmanager
def agreement_targets(directory: Path, gateways: bool = True) -> Iterator[tuple[list[AgreementTarget], str]]:
    """Start every target; yield them and the CA file (PEM) that signs the wss ones."""
    from tests.interop import _gateways

    ca = make_ca()
    ca_pem = str(write_ca_pem(ca, directory / "ca.pem"))
    ssl_context = server_ssl_context(issue_server_cert(ca))  # certs.DEFAULT_IDENTITIES
    with contextlib.ExitStack() as stack:
        targets = []
        reference = stack.enter_context(ReferenceServer(ServerConfig(
            schemes=("ws", "wss"), ssl_context=ssl_context, subprotocols=(SUBPROTOCOL,))))
        for scheme in ("ws", "wss"):
            targets.append(AgreementTarget("reference", f"reference-{scheme}", "the reference server",
                                           reference.urls[scheme]))
        for name in faults.names():
            fault = faults.get(name)
            if fault.delay_101:
                fault = fault.with_delay(TIMEOUT + 1.0)  # past both limits, as the profile intends
            server = stack.enter_context(ReferenceServer(ServerConfig(
                schemes=("ws",), subprotocols=(SUBPROTOCOL,), fault=fault)))
            targets.append(AgreementTarget("fault profile", name, fault.mistake, server.urls["ws"]))
        if gateways:
            upstream = stack.enter_context(ReferenceServer(ServerConfig(schemes=("ws",), subprotocols=(SUBPROTOCOL,))))
            upstream_port = int(upstream.urls["ws"].split(":")[2].split("/")[0])
            tls = _gateways.write_tls_files(ca, directory / "gateway-tls")
            for kind, spec in _gateways.KINDS.items():
                if _gateways.missing_binary(kind) is None:
                    running = stack.enter_context(_gateways.gateway(kind, upstream_port, directory / kind, tls))
                    targets.append(AgreementTarget("gateway", kind, spec.title, running.url))
        for variant in STRICTNESS_VARIANTS:
            url = stack.enter_context(raw_server(_answer(variant.build)))
            targets.append(AgreementTarget("browser-strictness variant", variant.name, variant.doc, url))
        yield targets, ca_pem


# --- the comparison ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Row:
    target: AgreementTarget
    offer: str
    browser: browser.BrowserResult
    suite: browser.Verdict

    @property
    def agree(self) -> bool:
        return self.browser.opened == self.suite.opens

    def suite_text(self) -> str:
        if self.suite.opens:
            return "open"
        outcome = self.suite.outcome
        if outcome.connect_error:
            return "refuse (cannot connect)"
        failing = sorted({_check_of(finding) for finding in outcome.findings})
        return f"refuse ({', '.join(failing)})"

    def browser_text(self) -> str:
        if self.browser.opened:
            return "open" + (f" (`{self.browser.protocol}`)" if self.browser.protocol else "")
        if self.browser.state == "timeout":
            return f"refuse (no open within {TIMEOUT:g} s)"
        reason = re.sub(r"^Error during WebSocket handshake: ", "", self.browser.reason)
        return f"refuse ({reason})" if reason else "refuse"


def _check_of(finding) -> str:
    """The short rule a finding belongs to (its requirement, without the citation)."""
    return finding.requirement.split(": ", 1)[-1]


def run_agreement(directory: Path | None = None, gateways: bool = True) -> list[Row]:
    """Every target x every offer, in Chromium and in the suite."""
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="wsgateway-agreement-")))
        targets, ca_pem = stack.enter_context(agreement_targets(directory, gateways))
        pairs = [(target, offer) for target in targets for offer in OFFERS]
        probes = [browser.Probe(target.url, OFFERS[offer]) for target, offer in pairs]
        seen = browser.probe(probes, chromium=chromium(), ca_pem=ca_pem, timeout=TIMEOUT)
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            verdicts = list(pool.map(lambda pair: _verdict(pair[0], OFFERS[pair[1]], ca_pem), pairs))
    return [Row(target, offer, result, verdict) for (target, offer), result, verdict in zip(pairs, seen, verdicts)]


def _verdict(target: AgreementTarget, offer: tuple[str, ...], ca_pem: str) -> browser.Verdict:
    return browser.client_verdict(parse_url(target.url, ca_file=ca_pem, target_id=target.name, timeout=TIMEOUT,
                                          subprotocols=(SUBPROTOCOL,)), offer)


def render(rows: list[Row], chromium_version: str) -> str:
    """docs/browser-agreement.md."""
    agreed = sum(row.agree for row in rows)
    lines = [
        "# Browser agreement: Chromium vs the suite's client-side verdict",
        "",
        "<!-- generated by docs/gen_browser_agreement.py; do not edit by hand -->",
        "",
        f"Generated with {chromium_version} (headless, fresh profile; wss trusted through an NSS database "
        "holding the test CA, not `--ignore-certificate-errors`).",
        "",
        "For each target and each subprotocol offer, a page runs `new WebSocket(url, protocols)` in Chromium "
        "(column *Chromium*), and the suite judges a browser-shaped request with the same offer by the "
        "`browser-handshake` case family of `conformance/cases/07-browser.yaml` — every check a browser "
        "applies to the 101 (column *suite*; in brackets the rules that fail). Both give up after "
        f"{TIMEOUT:g} s. An offer the API does not speak is *correctly* refused by browsers: the third "
        "column shows both sides agreeing on that too.",
        "",
        f"**Agreement: {agreed}/{len(rows)} ({100 * agreed // max(len(rows), 1)} %).**",
        "",
        "| group | target | offer | Chromium | suite | agree |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row.target.group} | `{row.target.name}` | {row.offer} | {_cell(row.browser_text())} | "
                     f"{_cell(row.suite_text())} | {'yes' if row.agree else '**NO**'} |")
    lines += ["", "## Targets", "", "| target | what it does |", "|---|---|"]
    seen = set()
    for row in rows:
        if row.target.name not in seen:
            seen.add(row.target.name)
            lines.append(f"| `{row.target.name}` | {_cell(row.target.doc)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def chromium_version() -> str:
    import subprocess

    done = subprocess.run([chromium(), "--version"], capture_output=True, text=True, timeout=30)
    words = done.stdout.split()
    version = next((w for w in words if re.fullmatch(r"\d+(\.\d+)+", w)), "?")
    return f"Chromium {version.split('.')[0]}"
