"""How a verdict is decided at the edges, sans-I/O: the canary, differential refusals, rate limits.

A refusal ("this bad request is not upgraded") proves something only when the same target
upgrades the valid request under the same conditions. Each target therefore gets a *canary*: the
valid RFC 6455 §4.1 upgrade, sent once before its first case (:class:`Canary`, built from that
exchange by :func:`read_canary`). Then, per case (:func:`qualify`):

* the canary could not reach the target, or got no answer: no case can be judged -- every case of
  the target ends at once, **inconclusive** ("not run: ..."), with the cause said once;
* the canary was refused (any status but 101): a refusal case (one whose checks judge a refusal,
  ``@check(..., refusal=True)``) that *passed* proves nothing -- inconclusive; one that failed
  keeps its failure (a bad request upgraded, a 426 without ``Upgrade`` are defects whatever the
  valid request got) unless its own answer has an unrelated status (:data:`UNRELATED`:
  credentials, a wrong path, a rate limit, a backend that is down); other cases are judged as
  usual, unless the canary's status is unrelated -- then they are inconclusive too;
* the canary was upgraded, but a refusal case was answered with an unrelated status: the canary is
  sent again right then; if it is refused too, the refusal proves nothing -- inconclusive.

A ``429`` (or a ``503`` with ``Retry-After``) is never a refusal and never a failure: the executor
waits as told within a budget and sends again (:func:`retry_after`); a case still rate-limited
when the budget is spent is inconclusive ("rate-limited").

An inconclusive case fails the run (exit 1: the gate cannot say "passed"), but it is reported as
*inconclusive*, with the reason and what to do, never as a failure of the target.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

from dataclasses import dataclass

from . import checks
from .exchange import Exchange, ExchangeError

#: Statuses that say nothing about WebSocket handling, with what the user should do.
UNRELATED = {
    401: "the gateway probably needs credentials: --gateway-header 'X-IBM-Client-Id: …' (or the API's own header)",
    403: "the gateway probably needs credentials or refuses this client: --gateway-header 'X-IBM-Client-Id: …'",
    404: "the gateway does not know this path: check the URL (API Connect: /<org>/<catalog>/<base path>)",
    407: "a proxy asks for credentials (Proxy-Authorization): --gateway-header 'Proxy-Authorization: …'",
    429: "the gateway rate-limits this client: lower --gateway-rate, or raise the plan's limit",
    502: "the gateway cannot reach its backend (502): check the backend behind the API",
    503: "the gateway or its backend is unavailable (503)",
    504: "the gateway's backend does not answer in time (504)",
}
#: ExchangeError kinds that mean the target cannot be reached at all, with what to do.
UNREACHABLE = {
    "resolve": "check the host name in the URL",
    "connect": "check the host and port, and that the gateway listens there",
    "connect-timeout": "check the host and port (nothing answers the TCP connection)",
    "ca-file": "check --gateway-ca",
    "tls-certificate": "trust the gateway's CA with --gateway-ca FILE, or skip verification with --gateway-insecure",
    "tls-timeout": "check that the port speaks TLS (wss://) and not plain HTTP (ws://)",
    "tls": "check that the port speaks TLS (wss://); --gateway-ca / --gateway-insecure for certificate trouble",
}
#: Exchange trouble before any answer that ends the whole target (it accepts TCP but never answers).
SILENT = ("timeout", "closed", "reset")


@dataclass(frozen=True)
class Canary:
    """What the valid upgrade got from a target: ``upgraded`` (a 101), else ``status`` (or None when
    there was no HTTP answer) and ``reason`` (one line: what happened and what to do); ``dead``
    when no case can run at all (unreachable, or no answer)."""

    upgraded: bool
    status: int | None = None
    reason: str = ""
    dead: bool = False

    @property
    def unrelated(self) -> bool:
        """Whether the refusal signals something unrelated to WebSockets (credentials, path, ...)."""
        return self.status in UNRELATED


UPGRADED = Canary(True)


def read_canary(exchange: Exchange | None, connect_error: ExchangeError | None = None,
                sent: tuple[str, ...] = ()) -> Canary:
    """The canary's verdict from its exchange (or from the error that prevented one). ``sent``: the
    names of the target's own headers -- a 401/403 then says to check their values (never shown)."""
    if connect_error is not None:
        hint = UNREACHABLE.get(connect_error.kind, "")
        return Canary(False, None, f"the target cannot be reached: {connect_error}" + (f" -- {hint}" if hint else ""),
                      dead=True)
    assert exchange is not None
    response = exchange.response
    if response is None:
        what = str(exchange.error) if exchange.error else "no response"
        dead = exchange.error is None or exchange.error.kind in SILENT
        return Canary(False, None, f"the valid upgrade got no HTTP answer: {what}", dead=dead)
    if exchange.upgraded:  # a 101, or over HTTP/2 an accepted extended CONNECT
        return UPGRADED
    status = f"{response.status} {response.reason}".rstrip()
    hint = UNRELATED.get(response.status)
    if sent and response.status in (401, 403):
        hint = f"the gateway refuses the credentials sent ({', '.join(sent)}): check their values"
    reason = f"the valid upgrade is refused too ({status})" + (f" -- {hint}" if hint else "")
    return Canary(False, response.status, reason)


def alive_after(canary: Canary, probe: Exchange | None) -> Canary:
    """The canary got no answer; ``probe`` is a plain GET sent next. If the target answers it, the
    target is alive and holds back only the upgrade: its cases run (and positive ones fail)."""
    if probe is None or probe.response is None:
        return canary
    status = f"{probe.response.status} {probe.response.reason}".rstrip()
    return Canary(False, None, f"{canary.reason}; the target does answer a plain GET ({status})")


def is_refusal(case) -> bool:
    """Whether ``case`` judges a refusal (any of its checks is declared ``refusal=True``)."""
    return any(name in checks.REFUSAL for name, _ in case.expect)


def response_status(exchange: Exchange | None) -> int | None:
    return exchange.response.status if exchange is not None and exchange.response is not None else None


def qualify(case, passed: bool, exchange: Exchange | None, canary: Canary) -> str | None:
    """Why the verdict of ``case`` (``passed`` or not, on ``exchange``) cannot stand given the
    ``canary``: an inconclusive reason, or None when the verdict stands.

    (The per-case recheck -- a refusal with an unrelated status while the canary upgraded -- is
    :func:`needs_recheck`; the executor sends the canary again and calls this with the new one.)
    """
    if canary.upgraded:
        return None
    if canary.dead:
        return f"not run: {canary.reason}"
    if is_refusal(case):
        if passed:
            return f"a refusal proves nothing here: {canary.reason}"
        status = response_status(exchange)
        if status in UNRELATED:
            return f"the answer ({status}) is not about this request, and {canary.reason}"
        return None
    if canary.unrelated:
        return canary.reason
    return None


def needs_recheck(case, exchange: Exchange | None, canary: Canary) -> bool:
    """A refusal case answered with an unrelated status while the canary upgraded: send the canary again."""
    return canary.upgraded and is_refusal(case) and response_status(exchange) in UNRELATED


def retry_after(exchange: Exchange | None) -> float | None:
    """Seconds to wait before sending again when the answer is a rate limit (RFC 6585 §4: 429;
    RFC 9110 §10.2.3: ``Retry-After`` on a 503), else None. A 429 without a usable
    ``Retry-After`` waits 1 s; an HTTP-date is not honoured (1 s)."""
    status = response_status(exchange)
    if status not in (429, 503):
        return None
    value = (exchange.response.get("Retry-After") or "").strip()
    seconds = float(value) if value.isascii() and value.isdigit() else None
    if status == 503 and seconds is None and not value:
        return None  # a 503 without Retry-After is a plain error, not a rate limit
    return seconds if seconds is not None else 1.0
