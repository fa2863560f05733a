"""What the suite is pointed at: a WebSocket URL plus how to trust it. Pure; no I/O.

A :class:`Target` is built from ``--gateway-url`` (or from the embedded reference server) and
carries everything the client needs to reach it. Bad input raises :class:`TargetError` with one
line that names the option and the problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"ws": 80, "wss": 443}


class TargetError(ValueError):
    """A URL or header the user gave that cannot be used (a usage error, not a test failure)."""


@dataclass(frozen=True)
class Target:
    """One WebSocket endpoint to test.

    ``resource`` is the RFC 6455 §3 /resource name/: the path plus any query, as sent in the
    request line. ``host_header`` is the RFC 6455 §4.1 Host value: the host, plus ``:port`` when
    the port is not the scheme's default. ``ca_file`` and ``insecure`` only matter for ``wss``.
    """

    id: str
    scheme: str
    host: str
    port: int
    resource: str
    ca_file: str | None = None
    insecure: bool = False

    @property
    def secure(self) -> bool:
        return self.scheme == "wss"

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.resource}"

    @property
    def path(self) -> str:
        return self.resource.partition("?")[0]


def parse_url(url: str, *, ca_file: str | None = None, insecure: bool = False, target_id: str | None = None) -> Target:
    """Build a :class:`Target` from a ``ws://`` or ``wss://`` URL; raise :class:`TargetError` if unusable."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"--gateway-url {url!r} is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise TargetError(f"--gateway-url {url!r}: the scheme must be ws:// or wss://, not {parts.scheme or 'missing'!r}")
    if not parts.hostname:
        raise TargetError(f"--gateway-url {url!r} has no host name")
    if parts.username or parts.password:
        raise TargetError(f"--gateway-url {url!r}: credentials in the URL are not supported; use --gateway-header")
    if parts.fragment:
        raise TargetError(f"--gateway-url {url!r}: a WebSocket URI must not have a fragment (RFC 6455 §3)")
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    port = port or DEFAULT_PORTS[scheme]
    target = Target("", scheme, parts.hostname, port, resource, ca_file if scheme == "wss" else None, insecure)
    return _with_id(target, target_id)


def _with_id(target: Target, target_id: str | None) -> Target:
    if target_id is None:
        readable = f"{target.scheme}-{target.host_header}{target.path}"
        target_id = re.sub(r"[^A-Za-z0-9.:_-]+", "-", readable).strip("-")
    return Target(target_id, target.scheme, target.host, target.port, target.resource, target.ca_file, target.insecure)


def unique_ids(targets: list[Target]) -> list[Target]:
    """Give repeated ids a ``-2``, ``-3``… suffix so every parametrized id stays distinct."""
    seen: dict[str, int] = {}
    result = []
    for target in targets:
        count = seen[target.id] = seen.get(target.id, 0) + 1
        result.append(target if count == 1 else _with_id(target, f"{target.id}-{count}"))
    return result


_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def parse_header(text: str) -> tuple[str, str]:
    """Parse ``"Name: value"`` from ``--gateway-header``; the name must be an RFC 9110 token."""
    name, colon, value = text.partition(":")
    name = name.strip()
    # Never echo the value: it is usually a credential. Without a colon, name and value cannot
    # be told apart, so show neither.
    if not colon:
        raise TargetError("--gateway-header: expected 'Name: value' (the text is not shown: it may hold a secret)")
    if not _TOKEN.match(name):
        raise TargetError(f"--gateway-header {name[:40]!r}: not a valid header name (RFC 9110 §5.1 token)")
    if any(ch in value for ch in "\r\n\0"):
        raise TargetError(f"--gateway-header {name!r}: the value must not contain CR, LF or NUL")
    return name, value.strip()
