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
  the case whose request came just before -- when that request went out alone; when several went
  out at once (the concurrent engine's quiet cases), the message says the culprit is not known
  and that ``--gateway-concurrency 1`` names it, rather than naming a bystander.

A concurrent engine replaces this class (same two methods) without touching the items, the checks
or the transports.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from . import verdicts

if TYPE_CHECKING:  # pragma: no cover
    from concurrent.futures import Future

    from .cases import Case
    from .runner import Outcome
    from .targets import Target


class SerialExecutor:
    """Runs each case when its item asks for the outcome, one at a time (``--gateway-concurrency 1``).

    ``rate``: requests per second per target (None: no cap). ``retry_budget``: seconds this process
    may spend waiting out rate limits, in all. ``sleep`` and ``clock`` are for tests.
    """

    def __init__(self, rate: float | None = None, retry_budget: float = 60.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 shared: bool = False) -> None:
        self.rate = rate
        #: other processes send to the same targets at the same time (several xdist workers): no
        #: request is known to have gone out alone, so no crash is pinned on one
        self.shared = shared
        self.retry_budget = retry_budget
        self._sleep, self._clock = sleep, clock
        self._canaries: dict[str, verdicts.Canary] = {}
        #: target id -> id of the case whose request came last, None when it went out with others at once
        self._last_case: dict[str, str | None] = {}
        self._next_send: dict[str, float] = {}
        self._waited = 0.0
        self._lock = threading.Lock()
        self._canary_locks: dict[str, threading.Lock] = {}
        #: target id -> how many answers were rate limits.
        self.rate_limited: dict[str, int] = {}
        #: target id -> rate limits waited out by its canaries and not yet told by an item (the
        #: next case of the target tells them, so the run's count includes them)
        self._canary_waits: dict[str, int] = {}

    def prepare(self, pairs: Sequence[tuple[Case, Target]], others: dict[str, int] | None = None) -> None:
        """The (case, target) pairs selected for this process, in run order, and per target id how
        many other items exchange with it outside the executor's cases (origin-policy, the browser
        probe; :meth:`other_item_done` counts them down). Unused here."""

    def other_item_done(self, target_id: str) -> None:
        """One of the other items that exchange with the target (see :meth:`prepare`) is over."""

    def start(self, target: Target) -> None:
        """The run has reached ``target`` (its first item is being set up): nothing to start here."""

    def close(self) -> None:
        """Nothing to stop."""

    # -- the canary ---------------------------------------------------------------------------

    def canary(self, target: Target, *, again: bool = False, transport: str = "http/1.1") -> verdicts.Canary:
        """The target's canary (sent once; ``again`` sends it anew, e.g. to recheck a refusal).

        Each transport has its own: over HTTP/2 the canary is the valid extended CONNECT (RFC 8441).
        """
        key = target.id if transport == "http/1.1" else f"{target.id} {transport}"
        with self._lock:
            lock = self._canary_locks.setdefault(key, threading.Lock())
        with lock:  # concurrent cases of one target wait for its one canary
            return self._canary(target, again, key, transport)

    def _canary(self, target: Target, again: bool, key: str, transport: str) -> verdicts.Canary:
        if again or key not in self._canaries:
            from .runner import CANARIES, LIVENESS

            outcome = self._send(CANARIES[transport], target)
            waits = outcome.rate_limited
            canary = verdicts.read_canary(outcome.exchange, outcome.connect_error,
                                          tuple(name for name, _ in target.headers))
            if canary.dead and outcome.connect_error is None and transport == "http/1.1":
                # No answer to the upgrade: does the target answer anything? (It may hold only 101s.)
                probe = self._send(LIVENESS, target)
                waits += probe.rate_limited
                canary = verdicts.alive_after(canary, probe.exchange)
            if waits:
                with self._lock:
                    self._canary_waits[target.id] = self._canary_waits.get(target.id, 0) + waits
            self._canaries[key] = canary
        return self._canaries[key]

    # -- one case -------------------------------------------------------------------------------

    def outcome(self, case: Case, target: Target) -> Outcome:
        """The outcome of ``case`` on ``target`` (runs it now)."""
        from . import checks
        from .runner import Outcome, run_case

        if checks.offline(name for name, _ in case.expect):
            return run_case(case, target)
        canary = self.canary(target, transport=case.transport)
        if canary.dead:
            from .runner import render

            reason = f"not run: {canary.reason}"
            outcome = Outcome(case, target, render(case, target), inconclusive=reason, cause=reason)
            outcome.rate_limited = self._take_canary_waits(target)
            return outcome
        outcome = self._send(case, target)
        if outcome.inconclusive is None:
            if outcome.connect_error is not None and canary.upgraded and target.id in self._last_case:
                culprit = self._last_case[target.id]  # None: the requests just before went out several at once
                outcome.crashed_after = culprit
                outcome.crashed_among_many = culprit is None
            if verdicts.needs_recheck(case, outcome.exchange, canary):
                canary = self.canary(target, again=True, transport=case.transport)
            outcome.inconclusive = verdicts.qualify(case, outcome.passed, outcome.exchange, canary)
            outcome.cause = canary.reason if outcome.inconclusive else None
        outcome.rate_limited += self._take_canary_waits(target)
        self._sent(outcome, case.id)
        return outcome

    def _alone(self, target: Target) -> bool:
        """Whether the case that just ran had the target to itself (here: one at a time, unless
        other processes share the targets)."""
        return not self.shared

    def _take_canary_waits(self, target: Target) -> int:
        """The rate limits the target's canaries waited out that no item has told yet (now told)."""
        with self._lock:
            return self._canary_waits.pop(target.id, 0)

    def send(self, case: Case, target: Target, label: str | None = None) -> Outcome:
        """One exchange outside the catalogue's items (e.g. ``origin-policy``'s browser requests),
        under the same rate cap and ``Retry-After`` handling as the cases (no canary, no verdict
        rules). ``label`` names it when a crash right after it is attributed (default: the case id)."""
        outcome = self._send(case, target)
        self._sent(outcome, label or case.id)
        return outcome

    def _sent(self, outcome: Outcome, name: str) -> None:
        """Note the request that came last to its target, when it reached it (crash attribution)."""
        if outcome.connect_error is None:  # a refused one never reached it
            self._last_case[outcome.target.id] = name if self._alone(outcome.target) else None

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
        rate = target.rate or self.rate  # a target's own cap (targets file), else the run's
        if not rate:
            return
        with self._lock:
            now = self._clock()
            at = max(now, self._next_send.get(target.id, now))
            self._next_send[target.id] = at + 1.0 / rate
        if at > now:
            self._sleep(at - now)


#: After-101 steps that may disturb a target: a connection held quiet for ``--gateway-idle``
#: seconds (``idle``, opt-in). Not the default run's ``flood`` (tunnel-backpressure, 4 MiB held
#: unread for 0.5 s): alone after the others it added 0.35-0.45 s to the embedded run (its pause no
#: longer overlaps anything); run with the others, a crash under it is reported as one among the
#: requests in flight (see :meth:`SerialExecutor.outcome`), never pinned on a bystander.
DISTURBING_STEPS = frozenset({"idle"})
#: Requirements of cases that may disturb a target: messages above 1 MiB (``large``, opt-in).
DISTURBING_REQUIREMENTS = frozenset({"large"})


def disturbing(case: Case) -> bool:
    """Whether ``case`` may disturb a target: a request with a body (the request-smuggling shape),
    an idle probe, messages above 1 MiB. Such cases run alone, after the others, so that a crash
    is attributed to its culprit (the only request in flight)."""
    return (bool(case.request.body) or any(action in DISTURBING_STEPS for action, _ in case.after)
            or bool(DISTURBING_REQUIREMENTS.intersection(case.requires)))


#: A step carrying this many bytes counts one more round trip per this many (:func:`round_trips`).
BYTES_PER_ROUND_TRIP = 64 * 1024
#: The ``idle`` step (quiet for the target's ``--gateway-idle`` seconds) outweighs any other case.
IDLE_ROUND_TRIPS = 10_000


def round_trips(case: Case) -> int:
    """How many sequential round trips ``case`` waits for, roughly (pure; used to start the long
    cases first): the handshake, one per after-101 step (a large payload more: a step's bytes
    cross the link before its answer comes back), the idle step most of all; over HTTP/2 one more
    (the connection preface and SETTINGS before the extended CONNECT)."""
    trips = 1 + (case.transport == "h2")
    for action, payload in case.after:
        if action == "idle":
            trips += IDLE_ROUND_TRIPS
            continue
        size = len(payload) if isinstance(payload, bytes) else payload.nbytes  # Burst, Sized, Flood
        trips += 1 + size // BYTES_PER_ROUND_TRIP
    return trips


def longest_first(cases: Sequence[Case]) -> list[Case]:
    """``cases`` in the order to start them: most round trips first, ties in run order (longest
    processing time first: the run's critical path starts at once instead of in the last wave)."""
    return sorted(cases, key=round_trips, reverse=True)  # sorted() is stable: ties keep run order


class ConcurrentExecutor(SerialExecutor):
    """Runs a target's selected cases ``concurrency`` at a time, under the same rules.

    When the run reaches a target (:meth:`start`, from the ``wsgateway_target`` fixture of its first
    item, or the first item that asks for an outcome), every case selected for that target
    (:meth:`prepare`) is started: the canary first (the others wait for it), then the cases on a pool
    of ``concurrency`` threads, the ones with the most round trips first (:func:`longest_first`),
    then -- once those are done and the other items that exchange with the target (origin-policy,
    the browser probe) are over, or one of the target's conformance items has asked for its
    outcome (the items before it are over) -- the :func:`disturbing` ones one at a time, so that
    "stopped accepting connections after X" names the culprit. Each item then takes
    its own outcome. A case that was not prepared (under xdist, a worker learns its items one by
    one) runs when asked, as in :class:`SerialExecutor`.
    """

    def __init__(self, concurrency: int, *, default_concurrency: int | None = None, **settings) -> None:
        super().__init__(**settings)
        from concurrent.futures import ThreadPoolExecutor

        self.concurrency = concurrency  # threads in all
        #: cases at once for a target that does not set its own (``--gateway-concurrency``)
        self.default_concurrency = default_concurrency or concurrency
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="wsgateway")
        self._pending: dict[str, list[Case]] = {}
        self._futures: dict[tuple[str, str], object] = {}
        self._launch_lock = threading.Lock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}  # target id -> its cases at once
        #: target id -> the most of its cases that were in flight at once (for tests and reports)
        self.peak: dict[str, int] = {}
        self._running: dict[str, int] = {}
        #: target id -> set once nothing outside the engine exchanges with it any more: its other
        #: items are over (:meth:`other_item_done`), or one of its conformance items asked
        self._asked: dict[str, threading.Event] = {}
        self._others: dict[str, int] = {}  # target id -> its other items not over yet
        self._closed = False
        #: target id -> the order its cases were started in (case ids; for tests and the bench trace)
        self.started: dict[str, list[str]] = {}
        self._by_itself = threading.local()  # .on: this thread runs a case with the target to itself

    def prepare(self, pairs: Sequence[tuple[Case, Target]], others: dict[str, int] | None = None) -> None:
        with self._launch_lock:
            for case, target in pairs:
                self._pending.setdefault(target.id, []).append(case)
            self._others.update(others or {})

    def other_item_done(self, target_id: str) -> None:
        with self._launch_lock:
            self._others[target_id] = left = self._others.get(target_id, 0) - 1
            asked = self._asked.setdefault(target_id, threading.Event())
        if left <= 0:
            asked.set()  # the disturbing cases may follow the quiet ones

    def start(self, target: Target) -> None:
        """Start ``target``'s selected cases now, if not yet (``target`` as the items see it: an
        embedded one bound to its running server)."""
        with self._launch_lock:
            if target.id in self._pending:
                self._launch(target, self._pending.pop(target.id))

    def outcome(self, case: Case, target: Target) -> Outcome:
        with self._launch_lock:
            if target.id in self._pending:
                self._launch(target, self._pending.pop(target.id))
            future = self._futures.pop((case.id, target.id), None)
            asked = self._asked.get(target.id)
        if asked is not None:
            asked.set()  # the items before this one are over: the disturbing cases may follow the quiet ones
        if future is None:
            return super().outcome(case, target)
        return future.result()

    def _launch(self, target: Target, cases: list[Case]) -> None:
        """Hand each of ``cases`` a future now, and start the target's coordinator thread."""
        from concurrent.futures import Future

        from . import checks, transport  # noqa: F401 - see below
        from .runner import unmet_requirement

        # Every module the exchanges use is imported here, on the calling (main) thread, before a
        # thread of the engine runs: pytest imports this package through its assertion-rewriting
        # hook, which parses the source into an ast in the importing thread, and CPython < 3.11.8
        # and < 3.12.1 can fail two such parses at once ("SystemError: AST constructor recursion
        # depth mismatch", python/cpython#106905) -- the main thread may be importing a test's
        # module (origin-policy's browser.py) while the cases run.
        transport.transport_for(target)  # the transports' registry: http1, http2
        runnable = [case for case in cases if unmet_requirement(case, target) is None]
        quiet = longest_first([case for case in runnable if not disturbing(case)])
        loud = [case for case in runnable if disturbing(case)]
        futures = {case.id: Future() for case in (*quiet, *loud)}
        self._futures.update({(case_id, target.id): future for case_id, future in futures.items()})
        self.started[target.id] = [case.id for case in quiet]
        asked = self._asked.setdefault(target.id, threading.Event())
        if self._others.get(target.id, 0) <= 0:
            asked.set()  # no other item exchanges with the target
        threading.Thread(target=self._coordinate, args=(target, quiet, loud, futures, asked),
                         name=f"wsgateway-{target.id}", daemon=True).start()

    def _coordinate(self, target: Target, quiet: list[Case], loud: list[Case],
                    futures: dict[str, Future], asked: threading.Event) -> None:
        """One target's run, on its own thread: the canary first (at once: the pool's threads are
        made while it travels), then the quiet cases on the pool, then the disturbing ones here,
        one at a time, once the quiet ones are done and nothing outside the engine exchanges with
        the target any more (``asked``)."""
        from concurrent.futures import wait

        from . import checks

        if any(case.transport == "http/1.1" and not checks.offline(name for name, _ in case.expect)
               for case in (*quiet, *loud)):
            try:
                self.canary(target)  # the cases wait for it anyway; sent before a thread is made for them
            except BaseException:  # pragma: no cover - the cases meet it again and report it
                pass
        submitted = []
        for case in quiet:
            try:
                submitted.append(self._pool.submit(self._fill, futures[case.id], case, target))
            except RuntimeError:  # the pool is shut down (close(): e.g. -x): nothing more starts
                return
        wait(submitted)
        asked.wait()
        self._by_itself.on = True  # the disturbing ones: alone, one after another
        for case in loud:
            if self._closed:
                return
            with self._lock:
                self.started[target.id].append(case.id)
            self._fill(futures[case.id], case, target)

    def _fill(self, future: Future, case: Case, target: Target) -> None:
        try:
            future.set_result(self._settled(case, target))
        except BaseException as exc:  # handed to the item that asks
            future.set_exception(exc)

    def _slot_count(self, target: Target) -> int:
        """How many of ``target``'s cases may be in flight at once: its own concurrency (targets
        file), else the run's."""
        return min(target.concurrency or self.default_concurrency, self.concurrency)

    def _slots_of(self, target: Target) -> threading.BoundedSemaphore:
        """The target's slots (:meth:`_slot_count` of them)."""
        with self._launch_lock:
            return self._slots.setdefault(target.id, threading.BoundedSemaphore(self._slot_count(target)))

    def send(self, case: Case, target: Target, label: str | None = None) -> Outcome:
        """As :meth:`SerialExecutor.send`, in one of the target's slots (it counts against its concurrency)."""
        with self._slots_of(target):
            return super().send(case, target, label)

    def _settled(self, case: Case, target: Target) -> Outcome:
        with self._slots_of(target):  # a target's own concurrency (targets file), else the run's
            with self._lock:
                self._running[target.id] = running = self._running.get(target.id, 0) + 1
                self.peak[target.id] = max(self.peak.get(target.id, 0), running)
            try:
                outcome = SerialExecutor.outcome(self, case, target)
            finally:
                with self._lock:
                    self._running[target.id] -= 1
        outcome.settle()
        return outcome

    def _alone(self, target: Target) -> bool:
        """Whether the case that just ran had ``target`` to itself: a disturbing one (run alone), any
        case of a target that takes one at a time, or one run when asked while none of the target's
        cases is on the pool (e.g. under xdist). A quiet case on the pool went out with others."""
        if self.shared:
            return False
        if getattr(self._by_itself, "on", False):
            return True
        with self._lock:  # a case on the pool counts itself as running: alone only at one slot
            return self._slot_count(target) == 1 or self._running.get(target.id, 0) == 0

    def close(self) -> None:
        """Stop: cases not started yet are dropped (e.g. after ``-x``)."""
        self._closed = True
        for event in self._asked.values():
            event.set()  # a disturbing chain still waiting ends (it checks ``_closed`` first)
        self._pool.shutdown(wait=False, cancel_futures=True)
