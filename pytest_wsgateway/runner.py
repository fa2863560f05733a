"""One case against one target: build the request, exchange it, judge it, explain the verdict.

:func:`run_case` is the whole flow of a case (render -> transport -> checks); :class:`Outcome`
renders the failure message (expected, actual, the RFC quote and the transcript), hiding secrets
field by field as it renders (:mod:`pytest_wsgateway.redact`).

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import checks, frames
from .cases import REQUIREMENTS, Case, RequestSpec, render_h2_request, render_request, title_for
from .exchange import ConnectError, Exchange, ExchangeError
from .redact import Redactor
from .targets import Target
from .transport import transport_for


#: How many bytes of a response body the transcript shows.
PREVIEW = 80
#: A transcript shows at most this many lines of a response head, and of frames after the 101.
SHOWN_HEAD_LINES = 60
SHOWN_FRAMES = 40
#: A finding's expected/actual text is cut to this many characters.
SHOWN_TEXT = 600


@dataclass
class Outcome:
    """The verdict of one case on one target, with what it takes to explain it."""

    case: Case
    target: Target
    request: bytes = field(repr=False)  # carries the target's header values
    exchange: Exchange | None = field(default=None, repr=False)
    findings: list[checks.Finding] = field(default_factory=list)
    connect_error: ExchangeError | None = None
    secrets: tuple[str, ...] = field(default=(), repr=False)
    #: Why the target could not be judged (see :mod:`pytest_wsgateway.verdicts`), or None; ``cause``
    #: is the part shared by every case it affects (e.g. the canary's refusal), said once per target.
    inconclusive: str | None = None
    cause: str | None = None
    #: The case whose request came just before the target stopped accepting connections; when the
    #: requests just before went out several at once, None and ``crashed_among_many`` True.
    crashed_after: str | None = None
    crashed_among_many: bool = False
    #: How many rate-limit answers (429, 503 with Retry-After) were waited out for this case.
    rate_limited: int = 0
    #: Why the case could not be tried at all: the server does not offer WebSockets over HTTP/2
    #: (RFC 8441 not offered, :func:`pytest_wsgateway.checks.h2_not_offered`), or declined the
    #: permessage-deflate a case needs (:func:`pytest_wsgateway.checks.deflate_not_negotiated`);
    #: the item is skipped.
    not_offered: str | None = None
    #: The ``idle`` step's measurement: after how many seconds of quiet the connection was cut
    #: (None: it stayed open, or no idle step ran); kept when the exchange is let go.
    idle_cutoff: float | None = None
    #: The size ladder (cases with ``sized`` steps): the largest message that came back intact
    #: before the first one that did not, and how that one fared (None: every rung came back).
    largest_message: int | None = None
    message_limit: str | None = None
    _message: str | None = field(default=None, repr=False)

    @property
    def passed(self) -> bool:
        return (self.connect_error is None and not self.findings and self.inconclusive is None
                and self.not_offered is None)

    @property
    def redactor(self) -> Redactor:
        return Redactor(self.secrets + self.target.secrets, (name for name, _ in self.target.headers),
                        self.target.secret_params)

    def summary(self) -> str:
        """One line: why the case failed (or could not be judged)."""
        if self.inconclusive:
            return self.redact(f"{self.case.id}: inconclusive: {self.inconclusive}")
        if self.connect_error:
            return self.redact(f"{self.case.id}: {self.connect_error}{self._crash()}")
        first = self.findings[0]
        return self.redact(f"{self.case.id}: expected {first.expected}; got {first.actual}")

    def settle(self) -> None:
        """Render the message now (if it failed) and let the exchange go: an outcome that waits for
        its item (the concurrent engine) then holds a few kilobytes, not a parsed response."""
        if not self.passed:
            self._message = self.message()
        self.exchange = None

    def message(self) -> str:
        """The failure explanation: requirement, expected, actual, RFC quote, transcript."""
        if self._message is not None:
            return self._message
        hide = self.redactor
        if self.inconclusive:
            head = f"INCONCLUSIVE [{self.case.level}] {self.case.id} @ {hide.url(self.target.url)}: {hide.text(self.inconclusive)}"
            return head if self.exchange is None else f"{head}\n\n{self.transcript()}"
        if self.connect_error:
            return (f"[{self.case.level}] {self.case.id} @ {hide.url(self.target.url)}: "
                    f"{hide.text(str(self.connect_error))}{self._crash()}")
        title = title_for(self.case, self.target.subprotocols[0] if self.target.subprotocols else "")
        lines = [f"[{self.case.level}] {self.case.id}: {title}", f"target: {hide.url(self.target.url)}"]
        for finding in self.findings:
            lines += [f"requirement: {finding.requirement}", f"  expected: {_cut(hide.text(finding.expected))}",
                      f"  actual:   {_cut(hide.text(finding.actual))}"]
        lines += [f"{self.case.rfc}: \"{self.case.quote}\"", "", self.transcript()]
        return "\n".join(lines)

    def void(self, reason: str) -> None:
        """The target itself went away under the case (the embedded server's process exited):
        whatever this outcome says is no verdict on the case. It becomes inconclusive for
        ``reason``; its earlier message, if it failed, follows as what the client saw."""
        seen = self.message() if not self.passed else ""
        self.inconclusive = self.cause = reason
        self.not_offered, self._message = None, None
        self._message = self.message() + (f"\n\nwhat the client saw:\n{seen}" if seen else "")

    def _crash(self) -> str:
        if self.crashed_among_many:
            return (" -- the target answered earlier and stopped accepting connections while several of its cases "
                    "were in flight at once: which request crashed it is not known (--gateway-concurrency 1, "
                    "without -n, sends one at a time and names it)")
        if self.crashed_after is None:
            return ""
        return (f" -- the target answered earlier and stopped accepting connections after `{self.crashed_after}`: "
                f"that request may have crashed it")

    def transcript(self) -> str:
        """The request and the response as seen on the wire, secrets hidden."""
        hide = self.redactor
        lines = ["--- request ---", hide.head(self.request)]
        exchange = self.exchange
        if exchange is not None:
            lines.append("--- response ---")
            for head in exchange.interim:
                lines += [_head_lines(hide.head(head)), "(an informational response; then:)"]
            lines.append(_head_lines(hide.head(exchange.response_head)) or "(nothing)")
            if exchange.error:
                lines.append(f"({hide.text(str(exchange.error))})")
            if exchange.early and not exchange.upgraded:
                # Hidden before it is cut, so a secret the body echoes cannot escape as a fragment.
                body = hide.text(exchange.early.decode("latin-1"))
                more = f", the first {PREVIEW} shown" if len(body) > PREVIEW else ""
                lines.append(f"(then {len(exchange.early)} bytes{more}: {body[:PREVIEW].encode('latin-1', 'replace')!r})")
            if exchange.sent or exchange.frames or exchange.frame_error or exchange.after_101:
                lines.append("--- on the stream (HTTP/2 DATA) ---" if exchange.protocol == "h2" else "--- after the 101 ---")
                lines += [f"> {sent}" for sent in exchange.sent]
                lines += [f"< echo of the {record.describe()} ({record.seconds:.3f} s"
                          + (", the client's writes were held back" if record.stalled else "") + ")"
                          for record in exchange.sized[:SHOWN_FRAMES]]
                lines += [f"< {frame.describe()}" for frame in exchange.frames[:SHOWN_FRAMES]]
                hidden = len(exchange.frames) - SHOWN_FRAMES + exchange.frames_dropped
                if hidden > 0:
                    size = sum(len(f.payload) for f in exchange.frames[SHOWN_FRAMES:]) + exchange.bytes_dropped
                    lines.append(f"< … {hidden:,} more frames ({size:,} payload bytes)")
                if exchange.frame_error:
                    lines.append(f"({hide.text(str(exchange.frame_error))})")
                if exchange.after_101 and (not exchange.frames or (exchange.frame_error is not None
                                                                   and exchange.frame_error.kind == "not-frames")):
                    lines.append(f"(the bytes after the 101, as received: {len(exchange.after_101)} kept)")
                    lines += [hide.text(line) for line in frames.hexdump(exchange.after_101)]
            second = exchange.second
            if second is not None:
                lines += ["--- a second stream on the same connection ---",
                          _head_lines(hide.head(second.response_head)) or "(nothing)"]
                if second.error:
                    lines.append(f"({hide.text(str(second.error))})")
                lines += [f"> {sent}" for sent in second.sent]
                lines += [f"< {frame.describe()}" for frame in second.frames[:SHOWN_FRAMES]]
                if second.frame_error:
                    lines.append(f"({hide.text(str(second.frame_error))})")
        return "\n".join(lines)

    def redact(self, text: str) -> str:
        """Free text with this outcome's secrets hidden (:meth:`Redactor.text`)."""
        return self.redactor.text(text)


def _cut(text: str) -> str:
    return text if len(text) <= SHOWN_TEXT else f"{text[:SHOWN_TEXT]} … ({len(text) - SHOWN_TEXT:,} more characters)"


def _head_lines(text: str) -> str:
    lines = [_cut(line) for line in text.split("\n")]
    if len(lines) > SHOWN_HEAD_LINES:
        lines = lines[:SHOWN_HEAD_LINES] + [f"… {len(lines) - SHOWN_HEAD_LINES:,} more header lines"]
    return "\n".join(lines)


#: The valid upgrade each target must accept before its refusals mean anything (the canary).
CANARY = Case(id="canary", title="The valid upgrade (the canary)", level="must", rfc="RFC 6455 §4.1",
              quote="The handshake MUST be a valid HTTP request as specified by [RFC2616].",
              expect=(("status_101", {}),))


#: The HTTP/2 canary: the valid extended CONNECT (RFC 8441 §4), before the family's refusals count.
CANARY_H2 = Case(id="canary-h2", title="The valid extended CONNECT (the HTTP/2 canary)", level="must",
                 rfc="RFC 8441 §5", quote="A server accepts the WebSocket by responding with a 2xx status code",
                 expect=(("h2_accepted", {}),), transport="h2")
#: The canary of each transport (a case's ``transport:``).
CANARIES = {"http/1.1": CANARY, "h2": CANARY_H2}


#: A plain GET (no upgrade headers): sent when the canary gets no answer, to tell a target that
#: never answers (every case ends at once) from one that holds back only its 101s.
LIVENESS = Case(id="liveness", title="A plain GET (is the target answering at all?)", level="interop",
                rfc="RFC 9110 §9.3.1", quote="The GET method requests transfer of a current selected representation",
                request=RequestSpec(remove=("Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version")))


#: Ladder rungs above this many bytes run only when ``--gateway-max-message`` declares more (1 MiB).
LARGE_FROM = 1 << 20


def unmet_requirement(case: Case, target: Target) -> str | None:
    """Why ``case`` cannot run against ``target`` (a skip reason), or None."""
    available = {"echo": target.echo, "api": target.api is not None, "verified-tls": not target.insecure,
                 "subprotocol": bool(target.subprotocols), "idle": target.idle is not None,
                 "large": target.max_message is not None and target.max_message > LARGE_FROM}
    return next((REQUIREMENTS[name] for name in case.requires if not available[name]), None)


def render(case: Case, target: Target) -> bytes:
    """The request bytes ``case`` sends to ``target`` (pure); for an HTTP/2 case the field list."""
    if case.transport == "h2":
        return render_h2_request(case.request, host=target.host_header, resource=target.resource,
                                 secure=target.secure, extra_headers=target.extra_headers(),
                                 subprotocol=target.subprotocols[0] if target.subprotocols else "")
    request, _ = render_request(case.request, host=target.host_header, resource=target.resource, path=target.path,
                                secure=target.secure, extra_headers=target.extra_headers(),
                                subprotocol=target.subprotocols[0] if target.subprotocols else "")
    return request


def judge(case: Case, target: Target, request: bytes, exchange: Exchange) -> list[checks.Finding]:
    """The case's checks on what happened (pure)."""
    context = checks.Context(scheme=target.scheme, path=target.path, api=target.api, insecure=target.insecure,
                             subprotocols=target.subprotocols, max_message=target.max_message)
    return checks.evaluate(case.expect, request, exchange, context)


def run_case(case: Case, target: Target) -> Outcome:
    """Send the case's request to ``target``, run its after-101 steps, and evaluate its checks."""
    request = render(case, target)
    outcome = Outcome(case, target, request)
    if checks.offline(name for name, _ in case.expect):
        outcome.findings = judge(case, target, request, Exchange(request=request))
        return outcome
    try:
        outcome.exchange = transport_for(target, case.transport).exchange(target, request, steps=case.after, timeout=target.timeout)
    except ConnectError as exc:
        outcome.connect_error = exc.error
        return outcome
    outcome.findings = judge(case, target, request, outcome.exchange)
    outcome.idle_cutoff = outcome.exchange.idle_cut
    if outcome.exchange.sized:
        largest, first = outcome.exchange.size_result()
        outcome.largest_message = largest
        outcome.message_limit = first.describe() if first is not None else None
    not_offered = checks.h2_not_offered(outcome.exchange)
    advertisement = any(name == "connect_protocol_advertised" for name, _ in case.expect)
    if not_offered and (not advertisement or target.http2 != "on"):
        outcome.not_offered = not_offered  # skipped, never failed (asked for with "on": the advertisement fails)
    declined = checks.deflate_not_negotiated(case.expect, outcome.exchange)
    if declined:
        outcome.not_offered = declined  # permessage-deflate declined: nothing compressed to judge, skipped
    return outcome
