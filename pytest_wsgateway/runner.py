"""One case against one target: build the request, exchange it, judge it, explain the verdict.

:func:`run_case` is the whole flow of a case; :class:`Outcome` renders the failure message
(expected, actual, the RFC quote and the transcript, with secret header values redacted).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import checks
from .apidef import ApiInfo
from .cases import Case, render_request
from .client import ConnectError, Exchange, exchange
from .targets import Target

REDACTED = "<redacted>"


@dataclass(frozen=True)
class Settings:
    """What the user told the suite, beyond the targets (see the plugin's ``--gateway-*`` options)."""

    timeout: float = 5.0
    origin: str | None = None
    #: (name, value) pairs from --gateway-header; the values are secrets, so never in the repr.
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    echo: bool = False
    api: ApiInfo | None = None
    #: --gateway-subprotocol: the subprotocol(s) the API speaks, the first one used for ``{subprotocol}``.
    subprotocols: tuple[str, ...] = ()

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values never to print: those of every --gateway-header (they carry client ids and tokens)."""
        return tuple(value for _, value in self.headers if value)

    def extra_headers(self) -> tuple[tuple[str, str], ...]:
        origin = (("Origin", self.origin),) if self.origin else ()
        return origin + self.headers


@dataclass
class Outcome:
    case: Case
    target: Target
    request: bytes = field(repr=False)  # carries the --gateway-header values
    exchange: Exchange | None = field(default=None, repr=False)
    findings: list[checks.Finding] = field(default_factory=list)
    connect_error: str | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)

    @property
    def passed(self) -> bool:
        return self.connect_error is None and not self.findings

    def summary(self) -> str:
        """One line: why the case failed."""
        if self.connect_error:
            return f"{self.case.id}: {self.connect_error}"
        first = self.findings[0]
        return self.redact(f"{self.case.id}: expected {first.expected}; got {first.actual}")

    def message(self) -> str:
        """The failure explanation: requirement, expected, actual, RFC quote, transcript."""
        if self.connect_error:
            return self.redact(f"[{self.case.level}] {self.case.id} @ {self.target.url}: {self.connect_error}")
        lines = [f"[{self.case.level}] {self.case.id}: {self.case.title}", f"target: {self.target.url}"]
        for finding in self.findings:
            lines += [f"requirement: {finding.requirement}", f"  expected: {finding.expected}", f"  actual:   {finding.actual}"]
        lines += [f"{self.case.rfc}: \"{self.case.quote}\"", "", self.transcript()]
        return self.redact("\n".join(lines))

    def transcript(self) -> str:
        lines = ["--- request ---", _show(self.request)]
        if self.exchange is not None:
            lines += ["--- response ---", _show(self.exchange.response_head) or "(nothing)"]
            if self.exchange.error:
                lines.append(f"({self.exchange.error})")
            if self.exchange.early:
                lines.append(f"(then {len(self.exchange.early)} bytes: {self.exchange.early[:80]!r})")
            if self.exchange.sent or self.exchange.frames or self.exchange.frame_error:
                lines.append("--- after the 101 ---")
                lines += [f"> {sent}" for sent in self.exchange.sent]
                lines += [f"< {frame.describe()}" for frame in self.exchange.frames]
                if self.exchange.frame_error:
                    lines.append(f"({self.exchange.frame_error})")
        return "\n".join(lines)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text


def _show(data: bytes) -> str:
    return data.decode("latin-1").replace("\r\n", "\n").rstrip("\n")


def unmet_requirement(case: Case, target: Target, settings: Settings) -> str | None:
    """Why ``case`` cannot run against ``target`` with ``settings`` (a skip reason), or None."""
    from .cases import REQUIREMENTS

    available = {"echo": settings.echo, "api": settings.api is not None, "verified-tls": not target.insecure,
                 "subprotocol": bool(settings.subprotocols)}
    return next((REQUIREMENTS[name] for name in case.requires if not available[name]), None)


def run_case(case: Case, target: Target, settings: Settings) -> Outcome:
    """Send the case's request to ``target``, run its after-101 steps, and evaluate its checks."""
    request, _ = render_request(case.request, host=target.host_header, resource=target.resource, path=target.path,
                                secure=target.secure, extra_headers=settings.extra_headers(),
                                subprotocol=settings.subprotocols[0] if settings.subprotocols else "")
    outcome = Outcome(case, target, request, secrets=settings.secrets)
    context = checks.Context(scheme=target.scheme, path=target.path, api=settings.api, insecure=target.insecure,
                              subprotocols=settings.subprotocols)
    if _network_free(case):
        outcome.findings = checks.evaluate(case.expect, request, Exchange(request=request), context)
        return outcome
    try:
        outcome.exchange = exchange(target, request, timeout=settings.timeout, steps=case.after)
    except ConnectError as exc:
        outcome.connect_error = str(exc)
        return outcome
    outcome.findings = checks.evaluate(case.expect, request, outcome.exchange, context)
    return outcome


_OFFLINE_CHECKS = {"api_lists_scheme", "api_declares_path"}


def _network_free(case: Case) -> bool:
    """Cases that judge only the API definition need no connection."""
    return all(name in _OFFLINE_CHECKS for name, _ in case.expect)
