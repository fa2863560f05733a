"""What the suite is pointed at: a WebSocket endpoint, how to trust it, and its own settings. Pure.

A :class:`Target` is built from ``--gateway-url`` (:func:`parse_url`) or is one of the
:data:`EMBEDDED_TARGETS` (the reference server, bound to its address when the server runs). It
carries everything a case needs about its endpoint: the address, the TLS trust, and the
per-target settings (headers, origin, subprotocols, echo, API definition, timeout) whose
defaults come from the command line. Bad input raises :class:`TargetError` with one line that
names the option and the problem.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:  # pragma: no cover
    from .apidef import ApiInfo

DEFAULT_PORTS = {"ws": 80, "wss": 443}


class TargetError(ValueError):
    """A URL or header the user gave that cannot be used (a usage error, not a test failure)."""


@dataclass(frozen=True)
class Target:
    """One WebSocket endpoint to test, with its own settings.

    ``resource`` is the RFC 6455 §3 /resource name/: the path plus any query, as sent in the
    request line. ``host_header`` is the RFC 6455 §4.1 Host value: the host, plus ``:port`` when
    the port is not the scheme's default. ``ca_file`` and ``insecure`` only matter for ``wss``.

    Per-target settings: ``headers`` ((name, value) pairs sent with every handshake; the values
    are secrets, never in the repr), ``origin``, ``subprotocols`` (the API speaks these, the first
    fills ``{subprotocol}``), ``echo`` (the endpoint echoes messages), ``api`` (its OpenAPI 2.0
    definition), ``timeout`` (seconds per network step), ``idle`` (seconds a quiet connection must
    stay open, ``--gateway-idle``). ``embedded`` marks the reference
    server's targets, whose address is known only once the server runs (:meth:`bound`).
    """

    id: str
    scheme: str
    host: str
    port: int
    resource: str
    ca_file: str | None = None
    insecure: bool = False
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    origin: str | None = None
    subprotocols: tuple[str, ...] = ()
    echo: bool = False
    api: ApiInfo | None = None
    timeout: float = 5.0
    embedded: bool = False
    #: Query parameters whose values are secrets, beyond the credential-like ones
    #: (:data:`pytest_wsgateway.redact.CREDENTIAL_PARAMS`).
    secret_params: tuple[str, ...] = ()
    #: WebSockets over HTTP/2 (RFC 8441, the ``transport: h2`` cases): ``off``; ``auto`` (wss://
    #: only, skipped where the server does not offer it); ``on`` (ws:// too, as h2c with prior
    #: knowledge; not offered fails the advertisement case).
    http2: str = "off"
    #: ``--gateway-idle``: seconds a quiet connection must stay open (the ``tunnel-idle`` case,
    #: opt-in; None: not declared, the case is skipped).
    idle: float | None = None
    #: Requests per second to this target and how many of its cases run at once (a targets file's
    #: ``rate`` / ``concurrency``); None: the run's ``--gateway-rate`` / ``--gateway-concurrency``.
    rate: float | None = None
    concurrency: int | None = None
    #: ``--gateway-max-message``: the message size (bytes) the API must carry, or None (undeclared:
    #: a size limit announced cleanly is reported, not failed; docs/tunnel.md).
    max_message: int | None = None

    def runs(self, case) -> bool:
        """Whether ``case`` (a :class:`~pytest_wsgateway.cases.Case`) runs against this target."""
        if self.scheme not in case.schemes:
            return False
        if case.transport == "h2":
            return self.http2 == "on" or (self.http2 == "auto" and self.secure)
        return True

    def __repr__(self) -> str:  # no header value, no credential in the query
        return f"Target(id={self.id!r}, url={self.redactor().url(self.url)!r})"

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

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values never to print: every header value, and credential-like query parameter values."""
        from .redact import query_secrets

        return tuple(value for _, value in self.headers if value) + query_secrets(self.resource, self.secret_params)

    def redactor(self):
        """The :class:`~pytest_wsgateway.redact.Redactor` for what this target's cases render."""
        from .redact import Redactor

        return Redactor(self.secrets, (name for name, _ in self.headers), self.secret_params)

    def extra_headers(self) -> tuple[tuple[str, str], ...]:
        """Origin (if set), then the target's headers: what every handshake request adds."""
        origin = (("Origin", self.origin),) if self.origin else ()
        return origin + self.headers

    def with_settings(self, **settings: object) -> Target:
        """A copy with other settings (any field but the address)."""
        return dataclasses.replace(self, **settings)

    def bound(self, url: str, *, ca_file: str | None = None) -> Target:
        """This target at the address of ``url`` (for an embedded target once its server runs)."""
        address = parse_url(url)
        return dataclasses.replace(self, host=address.host, port=address.port, resource=address.resource,
                                   ca_file=ca_file if self.secure else None)


#: The reference server's two listeners: the targets when no URL is given. Their address is
#: filled in by :meth:`Target.bound` when the server runs; as the picture of correct they echo,
#: serve the shipped API definition and speak the server's subprotocols (see the fixtures).
EMBEDDED_TARGETS = (
    Target("reference-ws", "ws", "127.0.0.1", 0, "/", echo=True, embedded=True),
    Target("reference-wss", "wss", "127.0.0.1", 0, "/", echo=True, embedded=True),
)
#: How reports name an embedded target (its address changes every run).
EMBEDDED_DESCRIPTIONS = {"reference-ws": "embedded reference server (ws://)",
                         "reference-wss": "embedded reference server (wss://)"}


def parse_url(url: str, *, target_id: str | None = None, option: str = "--gateway-url", **settings: object) -> Target:
    """Build a :class:`Target` from a ``ws://`` or ``wss://`` URL; raise :class:`TargetError` if unusable.

    ``settings`` are further :class:`Target` fields (``ca_file``, ``insecure``, ``headers``,
    ``echo``…); ``ca_file`` is dropped for ``ws://``. ``option`` names where the URL came from
    in a message (the flag, or the environment variable or ini key).
    """
    control = next((ch for ch in url.strip() if ch < " " or ch == "\x7f"), None)
    if control is not None:  # checked before urlsplit, which silently drops tabs and newlines
        raise TargetError(f"{option} {url!r}: the path and query must be percent-encoded (RFC 3986 §2.1): "
                          f"write {control!r} as {quote(control, safe='')}")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise TargetError(f"{option} {_shown(url)!r} is not a valid URL: {exc}") from None
    scheme = parts.scheme.lower() if "://" in url else ""
    if scheme not in DEFAULT_PORTS:
        given = repr(parts.scheme) if scheme else f"missing (e.g. wss://{url.strip()})"
        raise TargetError(f"{option} {_shown(url)!r}: the scheme must be ws:// or wss://, not {given}")
    if not parts.hostname:
        raise TargetError(f"{option} {_shown(url)!r} has no host name")
    if not parts.hostname.isascii():
        try:
            example = f", e.g. {parts.hostname.encode('idna').decode('ascii')}"
        except UnicodeError:
            example = ""
        raise TargetError(f"{option} {_shown(url)!r}: the host name must be ASCII (write its IDNA form{example})")
    if parts.username or parts.password:
        raise TargetError(f"{option} {_shown(url)!r}: credentials in the URL are not supported; use --gateway-header")
    if parts.fragment:
        raise TargetError(f"{option} {_shown(url)!r}: a WebSocket URI must not have a fragment (RFC 6455 §3)")
    if port == 0:
        raise TargetError(f"{option} {_shown(url)!r}: port 0 cannot be connected to; give the gateway's port (1-65535)")
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    bad = next((ch for ch in resource if not "!" <= ch <= "~"), None)
    if bad is not None:  # a space, a control character or non-ASCII: not sendable in a request line
        raise TargetError(f"{option} {url!r}: the path and query must be percent-encoded (RFC 3986 §2.1): "
                          f"write {bad!r} as {quote(bad, safe='')}")
    port = port or DEFAULT_PORTS[scheme]
    if scheme != "wss":
        settings["ca_file"] = None
    target = Target("", scheme, parts.hostname, port, resource, **settings)  # type: ignore[arg-type]
    return _with_id(target, target_id)


def _shown(url: str) -> str:
    """``url`` as it may appear in a message: no userinfo, no credential-like query value."""
    from .redact import Redactor

    return Redactor().url(re.sub(r"(?<=//)[^/?#@]*@", "<redacted>@", url.strip()))


def _with_id(target: Target, target_id: str | None) -> Target:
    if target_id is None:
        readable = f"{target.scheme}-{target.host_header}{target.path}"
        target_id = re.sub(r"[^A-Za-z0-9.:_-]+", "-", readable).strip("-")
    return dataclasses.replace(target, id=target_id)


def unique_ids(targets: list[Target]) -> list[Target]:
    """Give repeated ids a ``-2``, ``-3``… suffix so every parametrized id stays distinct."""
    seen: dict[str, int] = {}
    result = []
    for target in targets:
        count = seen[target.id] = seen.get(target.id, 0) + 1
        result.append(target if count == 1 else _with_id(target, f"{target.id}-{count}"))
    return result


_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def is_token(name: str) -> bool:
    """RFC 9110 §5.6.2 token (a header name, a Sec-WebSocket-Protocol element)."""
    return bool(_TOKEN.match(name))


def parse_header(text: str, option: str = "--gateway-header") -> tuple[str, str]:
    """Parse ``"Name: value"`` from ``--gateway-header``; the name must be an RFC 9110 token.

    The value is usually a credential and is never shown. When the colon is misplaced
    (``X-Api-Key TOPSECRET:xyz``) the text before it may hold the secret too, so a message shows
    at most the first word, and only when that word is a valid header name. ``option`` names
    where the text came from (the flag, or the environment variable or ini key).
    """
    name, colon, value = text.partition(":")
    name = name.strip()
    # Without a colon, name and value cannot be told apart, so show neither.
    if not colon:
        raise TargetError(f"{option}: expected 'Name: value' (the text is not shown: it may hold a secret)")
    if not is_token(name):
        first = name.split()[0] if name.split() else ""
        if is_token(first) and first != name:
            raise TargetError(f"{option}: {first[:40] + '…'!r} is not 'Name: value' "
                              f"(the text is not shown: it may hold a secret)")
        raise TargetError(f"{option}: the text before the colon is not a header name (RFC 9110 §5.1 token; "
                          f"the text is not shown: it may hold a secret)")
    if any(ch in value for ch in "\r\n\0"):
        raise TargetError(f"{option} {name!r}: the value must not contain CR, LF or NUL")
    problem = field_value_problem(value)
    if problem is not None:
        raise TargetError(f"{option} {name!r}: the value must be visible ASCII or Latin-1 text "
                          f"(RFC 9110 §5.5; it holds {problem}; the value is not shown)")
    return name, value.strip()


def field_value_problem(value: str) -> str | None:
    """Why ``value`` cannot be an RFC 9110 §5.5 field value (VCHAR, obs-text, SP, HTAB), or None."""
    for ch in value:
        if ch == "\t" or " " <= ch <= "~" or "\x80" <= ch <= "\xff":
            continue
        return "a character beyond Latin-1" if ch > "\xff" else "a control character"
    return None
