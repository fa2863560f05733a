"""Every case of the catalogue against every target (ids: ``<case>@<target>``).

The plugin parametrizes ``wsgateway_case`` and ``wsgateway_target``; the executor
(:mod:`pytest_wsgateway.executor`) runs the case (canary, request -> transport -> checks, see
:func:`pytest_wsgateway.runner.run_case` and :mod:`pytest_wsgateway.verdicts`) and this test
reports its outcome: passed, failed, or inconclusive (a failure the summary, JUnit and the reports
show as ``inconclusive``, with the reason).
"""

import pytest

from pytest_wsgateway.junit import idle_cutoff_property
from pytest_wsgateway.plugin import RENDERED_KEY
from pytest_wsgateway.runner import unmet_requirement


def test_conformance(wsgateway_case, wsgateway_target, wsgateway_executor, request, wsgateway_record_property):
    reason = unmet_requirement(wsgateway_case, wsgateway_target)
    if reason:
        pytest.skip(reason)
    outcome = wsgateway_executor.outcome(wsgateway_case, wsgateway_target)
    if not outcome.passed and wsgateway_target.embedded:
        gone = _embedded_server_gone(request, outcome)
        if gone:  # e.g. the OOM killer: nothing about the case
            outcome.void(f"the embedded reference server's process exited ({gone}); not a verdict on the case")
    if outcome.rate_limited:  # counted in the run's summary, a skipped item's too
        wsgateway_record_property("wsgateway_rate_limited", outcome.rate_limited)
    if outcome.not_offered:  # e.g. "RFC 8441 not offered": nothing to judge, never a failure
        pytest.skip(outcome.redact(outcome.not_offered))
    if outcome.idle_cutoff is not None:  # tunnel-idle: the connection was cut after this many seconds of quiet
        wsgateway_record_property(*idle_cutoff_property(outcome.idle_cutoff))
    if outcome.crashed_after:
        wsgateway_record_property("wsgateway_crashed_after", outcome.crashed_after)
    if outcome.largest_message is not None:  # the size ladder: the largest message that came back intact
        wsgateway_record_property("wsgateway_largest_message", outcome.largest_message)
    if outcome.message_limit is not None:  # ... and the first one that did not (a limit, or worse)
        wsgateway_record_property("wsgateway_message_limit", outcome.redact(outcome.message_limit))
    if outcome.inconclusive:
        wsgateway_record_property("wsgateway_inconclusive", outcome.redact(outcome.inconclusive))
        wsgateway_record_property("wsgateway_cause", outcome.redact(outcome.cause or outcome.inconclusive))
    if not outcome.passed:
        message = request.node.stash[RENDERED_KEY] = outcome.message()
        pytest.fail(message, pytrace=False)


#: What a dying server leaves a client with: the connection refused, reset or cut.
_ABRUPT = frozenset({"connect", "closed", "reset", "io", "send", "stream-reset", "h2"})


def _embedded_server_gone(request, outcome) -> str | None:
    """How the embedded reference server's process ended, or None while it serves (or when it
    serves from a thread of this process). After an abrupt end (refused, reset, cut) it looks for
    up to 0.1 s: the process resets its connections a moment before it can be reaped."""
    exit_status = getattr(request.getfixturevalue("wsgateway_suite_server"), "exit_status", None)
    if not callable(exit_status):
        return None
    exchange = outcome.exchange
    errors = (outcome.connect_error, *((exchange.error, exchange.frame_error) if exchange is not None else ()))
    abrupt = outcome.inconclusive is not None or any(e is not None and e.kind in _ABRUPT for e in errors)
    return exit_status(wait=0.1 if abrupt else 0.0)
