"""TLS hygiene of the reference server: TLS >= 1.2, ALPN h2 and http/1.1, private keys kept off the disk.

* A client capped at TLS 1.1 is refused (a control client capped at TLS 1.2 with the same
  settings gets through, so the refusal is the server's), also when the caller hands the server
  a context that would allow TLS 1.0.
* ALPN: ``h2`` is selected from ``h2, http/1.1`` (the server speaks RFC 8441 over it) and
  ``http/1.1`` from ``http/1.1``; with ``ServerConfig(http2=False)`` ``h2`` is never selected.
* The private key touches the disk only inside a fresh 0700 directory, as a 0600 file (whatever
  the umask), removed before ``server_ssl_context`` returns; ``wsgateway-server --tls`` leaves
  only the public CA certificate in its temporary directory and removes that on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import stat
import threading
import warnings

import pytest
import trustme

from tests.server._helpers import CliServer

from pytest_wsgateway.reference_server import ReferenceServer, ServerConfig, certs


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture(scope="module")
def wss_server(ca):
    context = certs.server_ssl_context(certs.issue_server_cert(ca))
    with ReferenceServer(ServerConfig(schemes=("wss",), ssl_context=context)) as server:
        yield server


@pytest.fixture(autouse=True)
def _old_tls_versions_are_deprecated_we_know():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def _client(ca, *, maximum=None, minimum=None, alpn=("http/1.1",)) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=ca.cert_pem.bytes().decode("ascii"))
    if maximum is not None:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client really offer old versions
        ctx.minimum_version = minimum or ssl.TLSVersion.TLSv1
        ctx.maximum_version = maximum
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def _handshake(address, ctx: ssl.SSLContext) -> ssl.SSLSocket:
    sock = socket.create_connection(address, timeout=5)
    try:
        return ctx.wrap_socket(sock, server_hostname="127.0.0.1")
    except BaseException:
        sock.close()
        raise


def _tls11_client_or_skip(ca) -> ssl.SSLContext:
    try:
        ctx = _client(ca, maximum=ssl.TLSVersion.TLSv1_1)
    except (ValueError, ssl.SSLError) as exc:
        pytest.skip(f"this OpenSSL cannot build a TLS 1.1 client: {exc}")
    return ctx


def _tls11_possible_or_skip(ca) -> ssl.SSLContext:
    """A TLS 1.1 client, after proving it completes a TLS 1.1 handshake with a lenient plain server
    (so that a refusal by the reference server is the server's doing, not this OpenSSL's)."""
    client = _tls11_client_or_skip(ca)
    lenient = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    lenient.minimum_version = ssl.TLSVersion.TLSv1
    lenient.set_ciphers("DEFAULT:@SECLEVEL=0")
    ca.issue_cert("127.0.0.1").configure_cert(lenient)
    result: list[object] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(5)

        def serve() -> None:
            try:
                conn, _ = listener.accept()
                conn.settimeout(5)
                with lenient.wrap_socket(conn, server_side=True) as tls:
                    result.append(tls.version())
            except (OSError, ssl.SSLError) as exc:
                result.append(exc)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            with _handshake(listener.getsockname(), client) as tls:
                version = tls.version()
        except (OSError, ssl.SSLError) as exc:
            version = None
            reason = exc
        thread.join(5)
    if version != "TLSv1.1":
        pytest.skip(f"this OpenSSL cannot make a TLS 1.1 handshake at all: {reason if version is None else version}")
    return client


def _assert_refuses_tls11(address, ca) -> None:
    client = _tls11_possible_or_skip(ca)
    # control: the same kind of client, allowed TLS 1.2, completes the handshake
    with _handshake(address, _client(ca, maximum=ssl.TLSVersion.TLSv1_2)) as tls:
        assert tls.version() == "TLSv1.2"
    # the server refuses (a protocol_version alert, or just closing: both end the handshake)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _handshake(address, client).close()


def test_a_client_capped_at_tls11_is_refused(wss_server, ca):
    _assert_refuses_tls11(wss_server.address("wss"), ca)


def test_tls12_minimum_is_enforced_even_on_a_lenient_context(ca):
    lenient = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    lenient.minimum_version = ssl.TLSVersion.TLSv1
    lenient.set_ciphers("DEFAULT:@SECLEVEL=0")
    ca.issue_cert("127.0.0.1").configure_cert(lenient)
    with ReferenceServer(ServerConfig(schemes=("wss",), ssl_context=lenient)) as server:
        assert lenient.minimum_version == ssl.TLSVersion.TLSv1_2
        _assert_refuses_tls11(server.address("wss"), ca)


def test_alpn_selects_h2_when_offered_and_http11_otherwise(wss_server, ca):
    with _handshake(wss_server.address("wss"), _client(ca, alpn=("h2", "http/1.1"))) as tls:
        assert tls.selected_alpn_protocol() == "h2"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
    with _handshake(wss_server.address("wss"), _client(ca, alpn=("http/1.1", "h2"))) as tls:
        assert tls.selected_alpn_protocol() == "h2"  # the server's preference: RFC 7301 §3.2
    with _handshake(wss_server.address("wss"), _client(ca, alpn=("http/1.1",))) as tls:
        assert tls.selected_alpn_protocol() == "http/1.1"


def test_without_http2_alpn_selects_http11_and_never_h2(ca):
    context = certs.server_ssl_context(certs.issue_server_cert(ca))
    with ReferenceServer(ServerConfig(schemes=("wss",), ssl_context=context, http2=False)) as server:
        with _handshake(server.address("wss"), _client(ca, alpn=("h2", "http/1.1"))) as tls:
            assert tls.selected_alpn_protocol() == "http/1.1"
        try:
            with _handshake(server.address("wss"), _client(ca, alpn=("h2",))) as tls:
                assert tls.selected_alpn_protocol() is None
        except ssl.SSLError as exc:  # refusing the handshake (no_application_protocol) is fine too
            assert "NO_APPLICATION_PROTOCOL" in str(exc).upper() or "alert" in str(exc).lower(), exc


# --- private keys on disk -------------------------------------------------------------------------


def test_the_private_key_is_written_0600_in_a_0700_dir_that_is_removed(ca, monkeypatch):
    seen: list[tuple[str, int, int, bool]] = []

    class SpyContext(ssl.SSLContext):
        def load_cert_chain(self, certfile, keyfile=None, password=None):
            directory = os.path.dirname(certfile)
            with open(certfile, "rb") as handle:
                has_key = b"PRIVATE KEY" in handle.read()
            seen.append((directory, stat.S_IMODE(os.stat(directory).st_mode), stat.S_IMODE(os.stat(certfile).st_mode),
                         has_key))
            return super().load_cert_chain(certfile, keyfile, password)

    monkeypatch.setattr(certs.ssl, "create_default_context", lambda purpose=None: SpyContext(ssl.PROTOCOL_TLS_SERVER))
    old_umask = os.umask(0)  # the modes must not depend on a friendly umask
    try:
        context = certs.server_ssl_context(certs.issue_server_cert(ca))
    finally:
        os.umask(old_umask)
    assert len(seen) == 1
    directory, dir_mode, file_mode, has_key = seen[0]
    assert has_key
    assert dir_mode == 0o700, oct(dir_mode)
    assert file_mode == 0o600, oct(file_mode)
    assert not os.path.exists(directory), "the key directory outlived server_ssl_context"
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


def test_cli_tls_leaves_only_the_public_ca_and_removes_it_on_exit(tmp_path, monkeypatch):
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    server = CliServer(["--tls", "--scheme", "wss", "--port", "0"], cwd=str(tmp_path))
    try:
        fields = server.wait_ready()
        ca_file = fields["ca-file"][0]
        assert os.path.dirname(os.path.dirname(ca_file)) == str(private_tmp)
        # while serving: one temporary directory, holding the CA certificate and nothing secret
        entries = sorted(os.listdir(private_tmp))
        assert len(entries) == 1 and entries[0].startswith("wsgateway-ca-"), entries
        assert os.listdir(os.path.dirname(ca_file)) == ["ca.pem"]
        pem = open(ca_file, "rb").read()
        assert b"BEGIN CERTIFICATE" in pem and b"PRIVATE KEY" not in pem
        code, stderr = server.stop(signal.SIGTERM)
    finally:
        server.kill()
    assert code == 0, stderr
    assert os.listdir(private_tmp) == [], "temporary files left behind"
