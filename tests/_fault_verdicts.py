"""The fault profiles' expected verdicts: ``tests/expected_verdicts/faults.yaml``.

For each profile of ``reference_server/faults.py`` (the server's behaviour) the file says what the
suite must make of it: ``caught_by``, the cases whose request or check embodies the mistake (each
must fail), and ``collateral``, other cases that legitimately fail too (case id -> reason); and
for a profile whose server refuses the valid upgrade, ``inconclusive_refusals``: why its refusal
cases, which would pass, are inconclusive when the suite runs through pytest (the executor's canary:
a refusal proves nothing when the valid request is refused too).
``tests/test_mutation.py`` holds the suite to it; ``tests/test_faults.py`` checks it names every
profile and only catalogue cases; ``docs/gen_fault_profiles.py`` renders it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import NamedTuple

PATH = Path(__file__).resolve().parent / "expected_verdicts" / "faults.yaml"

_KEYS = {"caught_by", "collateral", "inconclusive_refusals"}


class Expected(NamedTuple):
    """What the suite must make of one fault profile."""

    #: Cases whose request or requirement embodies the mistake: each must fail.
    caught_by: tuple[str, ...]
    #: Other cases that fail because of it, with the reason (case id -> reason).
    collateral: dict[str, str]
    #: Why the refusal cases that would pass are inconclusive through pytest ("" when they are not).
    inconclusive_refusals: str = ""

    @property
    def failing(self) -> set[str]:
        """Every case expected to fail with the profile on: ``caught_by`` plus ``collateral``."""
        return set(self.caught_by) | set(self.collateral)


@functools.lru_cache(maxsize=None)
def load(path: Path = PATH) -> dict[str, Expected]:
    """Profile name -> :class:`Expected`, in the file's order; ValueError on a malformed entry."""
    import yaml

    document = yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    if not isinstance(document, dict):
        raise ValueError(f"{path.name}: expected a mapping of profile name -> entry")
    verdicts: dict[str, Expected] = {}
    for name, entry in document.items():
        if not isinstance(entry, dict) or not set(entry) <= _KEYS or "caught_by" not in entry:
            raise ValueError(f"{path.name}: {name}: expected caught_by (and optionally collateral), got {entry!r}")
        caught_by, collateral = entry["caught_by"], entry.get("collateral") or {}
        if not isinstance(caught_by, list) or not all(isinstance(case, str) for case in caught_by):
            raise ValueError(f"{path.name}: {name}: caught_by must be a list of case ids")
        if not isinstance(collateral, dict) or not all(
            isinstance(case, str) and isinstance(reason, str) for case, reason in collateral.items()
        ):
            raise ValueError(f"{path.name}: {name}: collateral must map case ids to reasons")
        reason = entry.get("inconclusive_refusals") or ""
        if not isinstance(reason, str):
            raise ValueError(f"{path.name}: {name}: inconclusive_refusals must be a reason")
        verdicts[name] = Expected(tuple(caught_by), dict(collateral), reason)
    return verdicts
