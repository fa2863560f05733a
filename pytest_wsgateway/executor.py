"""The executor seam: runs the selected (case, target) exchanges and hands each item its outcome.

The plugin asks the executor for an outcome per pytest item (:meth:`SerialExecutor.outcome`).
:meth:`SerialExecutor.prepare` is called once pytest has selected the items (``-k``, ``-m``,
baselines and xdist distribution applied) with the (case, target) pairs this process will run,
so an executor may start their exchanges early; this one runs each case when its item asks, one
after another. A concurrent, rate-aware engine replaces this class without touching the items,
the checks or the transports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .cases import Case
    from .runner import Outcome
    from .targets import Target


class SerialExecutor:
    """Runs each case when its item asks for the outcome, one at a time."""

    def prepare(self, pairs: Sequence[tuple[Case, Target]]) -> None:
        """The (case, target) pairs selected for this process, in run order (unused here)."""

    def outcome(self, case: Case, target: Target) -> Outcome:
        """The outcome of ``case`` on ``target`` (runs it now)."""
        from .runner import run_case

        return run_case(case, target)
