"""The suite's verdicts agree with a real client: websocat against the reference server's fault profiles.

Over ``wss://`` (websocat verifying the certificate through ``SSL_CERT_FILE``), websocat connects
to the correct server and echoes a line; where a profile breaks the handshake in a way websocat
checks, websocat refuses the connection (its exact message is asserted) *and* the suite fails the
case about that requirement. Where websocat is more lenient than RFC 6455 §4.1 requires of a
client, that is recorded too: websocat connects, the suite still fails the case.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

import pytest

from tests import _fault_verdicts
from tests.interop import _websocat
from pytest_wsgateway.cases import load_catalogue
from pytest_wsgateway.reference_server import (
    ReferenceServer,
    ServerConfig,
    faults,
    issue_server_cert,
    make_ca,
    server_ssl_context,
    write_ca_pem,
)
from pytest_wsgateway.runner import run_case
from pytest_wsgateway.targets import parse_url


WEBSOCAT = _websocat.WEBSOCAT
pytestmark = pytest.mark.skipif(WEBSOCAT is None, reason=_websocat.SKIP_REASON)

CASES = {case.id: case for case in load_catalogue()}
LINE = "agreement check"


@dataclass(frozen=True)
class Row:
    fault: str | None
    #: What websocat prints on stderr when it refuses; None when it connects.
    refusal: str | None
    #: The suite's case about the same requirement, and a piece of its failure message (None: passes).
    case: str
    finding: str | None
    #: Whether the line comes back through websocat (only when it connects).
    echoed: bool = False

    @property
    def id(self) -> str:
        return self.fault or "correct-server"


AGREE = [
    Row(None, None, "upgrade-header-websocket", None, echoed=True),
    Row("gatewayscript", "WebSocket response error: Upgrade field must be WebSocket", "upgrade-header-websocket",
        "actual:   no Upgrade header"),
    Row("upgrade-not-websocket", "WebSocket response error: Upgrade field must be WebSocket",
        "upgrade-header-websocket", "actual:   Upgrade: h2c"),
    Row("wrong-guid", "WebSocket response error: Sec-WebSocket-Accept is invalid", "upgrade-accept-value",
        "expected: Sec-WebSocket-Accept: "),
    Row("accept-trailing-garbage", "WebSocket HTTP error: Invalid Header provided", "upgrade-accept-value",
        "expected: Sec-WebSocket-Accept: "),
    Row("status-200", "WebSocketError: Received unexpected status code (200 OK)", "upgrade-status-101",
        "actual:   HTTP/1.1 200 OK"),
    # websocat connects, but the tunnel is dead: nothing comes back; the suite's echo case fails.
    Row("close-after-101", None, "tunnel-echo-text", "the target closed the connection without answering"),
]

# websocat accepts these 101s although RFC 6455 §4.1 says a client MUST fail the connection
# (or RFC 9110/9112 forbid the header on a 1xx): the suite is the stricter judge.
WEBSOCAT_LENIENT = [
    Row("no-connection-header", None, "upgrade-connection-upgrade", "actual:   no Connection header", echoed=True),
    Row("subprotocol-not-offered", None, "upgrade-no-unrequested-subprotocol",
        "actual:   Sec-WebSocket-Protocol: chat", echoed=True),
    Row("unrequested-extension", None, "upgrade-no-unrequested-extension",
        "actual:   Sec-WebSocket-Extensions: permessage-deflate", echoed=True),
    Row("content-length-on-101", None, "upgrade-no-content-length", "actual:   Content-Length: 0", echoed=True),
    Row("transfer-encoding-on-101", None, "upgrade-no-transfer-encoding", "actual:   Transfer-Encoding: chunked",
        echoed=True),
]


@pytest.fixture(scope="module")
def ca(tmp_path_factory):
    authority = make_ca()
    return authority, str(write_ca_pem(authority, tmp_path_factory.mktemp("agreement-ca") / "ca.pem"))


def websocat(url: str, ca_file: str) -> subprocess.CompletedProcess[str]:
    return _websocat.one_message(url, LINE, {"SSL_CERT_FILE": ca_file})


def check_agreement(row: Row, ca) -> None:
    authority, ca_file = ca
    config = ServerConfig(schemes=("wss",), ssl_context=server_ssl_context(issue_server_cert(authority)),
                          subprotocols=("chat",), fault=row.fault)
    with ReferenceServer(config) as server:
        url = server.urls["wss"]
        client = websocat(url, ca_file)
        outcome = run_case(CASES[row.case], parse_url(url, ca_file=ca_file, timeout=2.0, echo=True))

    if row.refusal is None:
        assert "Connected to ws" in client.stderr, client.stderr
        assert client.returncode == 0, client.stderr
        assert client.stdout == (LINE + "\n" if row.echoed else ""), client.stdout
    else:
        assert client.returncode != 0 and "Connected to ws" not in client.stderr
        assert f"websocat: WebSocketError: {row.refusal}" in client.stderr, client.stderr
        assert client.stdout == ""

    if row.finding is None:
        assert outcome.passed, outcome.message()
    else:
        assert not outcome.passed, f"{row.case} passed against {row.fault}"
        assert row.finding in outcome.message(), outcome.message()


@pytest.mark.parametrize("row", AGREE, ids=lambda row: row.id)
def test_websocat_and_the_suite_agree(row, ca):
    check_agreement(row, ca)


@pytest.mark.parametrize("row", WEBSOCAT_LENIENT, ids=lambda row: row.id)
def test_where_websocat_is_lenient_the_suite_still_fails_the_case(row, ca):
    check_agreement(row, ca)


def test_every_row_names_a_real_profile_and_case():
    for row in AGREE + WEBSOCAT_LENIENT:
        assert row.fault is None or row.fault in faults.FAULTS
        assert row.case in CASES
        if row.fault is not None:
            assert row.case in _fault_verdicts.load()[row.fault].caught_by, (row.fault, row.case)
