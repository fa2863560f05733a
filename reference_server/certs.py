"""Throw-away TLS material for the reference server, made with trustme.

Private keys never touch the disk except inside a private temporary directory
(mode 0700, file mode 0600) for the instant ``SSLContext.load_cert_chain``
needs a path; the directory is removed right after. Only the CA *certificate*
(public) is written where the caller asks (:func:`write_ca_pem`).

Server contexts advertise ALPN ``http/1.1`` and require TLS >= 1.2 (a :class:`.server.ReferenceServer`
that speaks HTTP/2 sets ``h2, http/1.1`` on its context when it starts).

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
from collections.abc import Iterable
from pathlib import Path

import trustme

__all__ = [
    "DEFAULT_IDENTITIES",
    "make_ca",
    "issue_server_cert",
    "server_ssl_context",
    "client_ssl_context",
    "write_ca_pem",
    "harden_server_context",
]

DEFAULT_IDENTITIES = ("localhost", "127.0.0.1", "::1")


def make_ca() -> trustme.CA:
    """A fresh in-memory certificate authority."""
    return trustme.CA()


def issue_server_cert(
    ca: trustme.CA, identities: Iterable[str] = DEFAULT_IDENTITIES
) -> trustme.LeafCert:
    """A server certificate for ``identities`` (DNS names and/or IP addresses)."""
    identities = tuple(identities)
    if not identities:
        raise ValueError("issue_server_cert needs at least one identity")
    return ca.issue_cert(*identities)


def harden_server_context(ctx: ssl.SSLContext, alpn: Iterable[str] = ("http/1.1",)) -> ssl.SSLContext:
    """TLS >= 1.2 and ALPN ``alpn`` (default ``http/1.1``; the server passes ``h2, http/1.1`` when it
    speaks RFC 8441 on the listener). Mutates ``ctx``."""
    if ctx.minimum_version < ssl.TLSVersion.TLSv1_2 or ctx.minimum_version == ssl.TLSVersion.MINIMUM_SUPPORTED:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(list(alpn))
    return ctx


def server_ssl_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    """A server-side SSLContext presenting ``cert`` (TLS >= 1.2, ALPN http/1.1)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    private_dir = tempfile.mkdtemp(prefix="wsgateway-key-")
    try:
        os.chmod(private_dir, 0o700)
        key_path = os.path.join(private_dir, "server-key-and-chain.pem")
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(cert.private_key_and_cert_chain_pem.bytes())
        ctx.load_cert_chain(key_path)
    finally:
        shutil.rmtree(private_dir, ignore_errors=True)
    return harden_server_context(ctx)


def client_ssl_context(ca: trustme.CA, *, alpn: Iterable[str] | None = ("http/1.1",)) -> ssl.SSLContext:
    """A verifying client context trusting only ``ca`` (handy for tests)."""
    # Passing cadata means the system trust store is NOT loaded.
    ctx = ssl.create_default_context(
        ssl.Purpose.SERVER_AUTH, cadata=ca.cert_pem.bytes().decode("ascii")
    )
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def write_ca_pem(ca: trustme.CA, path: str | Path) -> Path:
    """Write the CA certificate (public, no key) to ``path``; returns the path."""
    path = Path(path)
    path.write_bytes(ca.cert_pem.bytes())
    return path
