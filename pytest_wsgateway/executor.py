"""The executor: runs the selected (case, target) exchanges and hands each pytest item its outcome.

The plugin asks for an outcome per item (:meth:`SerialExecutor.outcome`);
:meth:`SerialExecutor.prepare` is called once pytest has selected the items (``-k``, ``-m``,
baselines and xdist distribution applied) with the (case, target) pairs this process will run.
This executor runs each case when its item asks, one after another, and applies the verdict rules
of :mod:`pytest_wsgateway.verdicts` around it:

* before a target's first case, the **canary** (the valid upgrade); when it cannot reach the target
  or gets no answer, every case of that target ends at once, inconclusive (fail fast);
* a refusal case answered with an unrelated status (401, 403, 404, 407, 429, 502-504) sends the
  canary again; refused too, the case is inconclusive;
* **rate limits**: at most ``rate`` requests per second per target; a ``429`` (or ``503`` with
  ``Retry-After``) is waited out within ``retry_budget`` seconds for the whole run, then the case
  is inconclusive ("rate-limited");
* **crash attribution**: a target that answered earlier and now refuses connections is named with
  the case whose request came just before.

A concurrent engine replaces this class (same two methods) without touching the items, the checks
or the transports.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from . import verdicts

if TYPE_CHECKING:  # pragma: no cover
    from .cases import Case
    from .runner import Outcome
    from .targets import Target


class SerialExecutor:
    """Runs each case when its item asks for the outcome, one at a time.

    ``rate``: requests per second per target (None: no cap). ``retry_budget``: seconds this process
    may spend waiting out rate limits, in all. ``sleep`` and ``clock`` are for tests.
    """

    def __init__(self, rate: float | None = None, retry_budget: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.retry_budget = retry_budget
        self._sleep, self._clock = sleep, clock
        self._canaries: dict[str, verdicts.Canary] = {}
        self._last_case: dict[str, str] = {}  # target id -> id of the case whose request came last
        self._next_send: dict[str, float] = {}
        self._waited = 0.0
        self._lock = threading.Lock()
        #: target id -> how many answers were rate limits.
        self.rate_limited: dict[str, int] = {}

    def prepare(self, pairs: Sequence[tuple[Case, Target]]) -> None:
        """The (case, target) pairs selected for this process, in run order (unused here)."""

    # -- the canary ---------------------------------------------------------------------------

    def canary(self, target: Target, *, again: bool = False) -> verdicts.Canary:
        """The target's canary (sent once; ``again`` sends it anew, e.g. to recheck a refusal)."""
        if again or target.id not in self._canaries:
            from .runner import CANARY, LIVENESS

            outcome = self._send(CANARY, target)
            canary = verdicts.read_canary(outcome.exchange, outcome.connect_error)
            if canary.dead and outcome.connect_error is None:
                # No answer to the upgrade: does the target answer anything? (It may hold only 101s.)
                probe = self._send(LIVENESS, target)
                canary = verdicts.alive_after(canary, probe.exchange)
            self._canaries[target.id] = canary
        return self._canaries[target.id]

    # -- one case -------------------------------------------------------------------------------

    def outcome(self, case: Case, target: Target) -> Outcome:
        """The outcome of ``case`` on ``target`` (runs it now)."""
        from . import checks
        from .runner import Outcome, run_case

        if checks.offline(name for name, _ in case.expect):
            return run_case(case, target)
        canary = self.canary(target)
        if canary.dead:
            from .runner import render

            reason = f"not run: {canary.reason}"
            return Outcome(case, target, render(case, target), inconclusive=reason, cause=reason)
        outcome = self._send(case, target)
        if outcome.inconclusive is None:
            if outcome.connect_error is not None and canary.upgraded and target.id in self._last_case:
                outcome.crashed_after = self._last_case[target.id]
            if verdicts.needs_recheck(case, outcome.exchange, canary):
                canary = self.canary(target, again=True)
            outcome.inconclusive = verdicts.qualify(case, outcome.passed, outcome.exchange, canary)
            outcome.cause = canary.reason if outcome.inconclusive else None
        self._last_case[target.id] = case.id
        return outcome

    def _send(self, case: Case, target: Target) -> Outcome:
        """Run ``case`` under the rate cap, waiting out rate limits within the budget."""
        from .runner import run_case

        limited = 0
        while True:
            self._pace(target)
            outcome = run_case(case, target)
            outcome.rate_limited = limited
            wait = verdicts.retry_after(outcome.exchange)
            if wait is None:
                return outcome
            limited = outcome.rate_limited = limited + 1
            with self._lock:
                self.rate_limited[target.id] = self.rate_limited.get(target.id, 0) + 1
                spend = wait <= self.retry_budget - self._waited
                if spend:
                    self._waited += wait
            if not spend:
                status = verdicts.response_status(outcome.exchange)
                outcome.inconclusive = outcome.cause = (
                    f"rate-limited: the target answered {status} and the retry budget "
                    f"({self.retry_budget:g} s, --gateway-retry-budget) is spent")
                return outcome
            self._sleep(wait)

    def _pace(self, target: Target) -> None:
        if not self.rate:
            return
        with self._lock:
            now = self._clock()
            at = max(now, self._next_send.get(target.id, now))
            self._next_send[target.id] = at + 1.0 / self.rate
        if at > now:
            self._sleep(at - now)
