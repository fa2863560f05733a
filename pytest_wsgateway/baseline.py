"""Known failures (the baseline): a YAML file of case ids the gate tolerates, each with a reason.

    # case id -> reason: a known failure on every target
    reject-host-missing: the gateway forwards requests without Host (ticket GW-123)
    # case id -> {target id: reason}: a known failure on those targets only
    reject-version-99-version-advertised:
      wss-gw.example.com/api/ws: the TLS listener drops Sec-WebSocket-Version

``--gateway-known-failures FILE`` turns every listed (case, target) into a *strict* xfail: while it
fails the run stays green; once it passes, the run fails (``XPASS(strict)``) until the entry is
removed, so the baseline cannot rot. An id that is not in the catalogue is a usage error; an entry
for a target id that is not under test is ignored (one file can serve several gateways).
``--gateway-write-baseline FILE`` writes the failures of a run in this format (see :func:`dump`).

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

HEADER = """\
# pytest-wsgateway known failures (--gateway-known-failures).
# case id -> reason (every target), or case id -> {target id: reason}.
# Each entry is a strict xfail: when the case passes, the run fails until the entry is removed.
"""


class BaselineError(ValueError):
    """A known-failures file that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class Baseline:
    """Known failures: ``entries[case_id]`` is a reason (all targets) or ``{target_id: reason}``."""

    path: str
    entries: dict[str, str | dict[str, str]] = field(default_factory=dict)

    def reason(self, case_id: str, target_id: str) -> str | None:
        """Why ``case_id`` is expected to fail on ``target_id``, or None if it is not a known failure."""
        entry = self.entries.get(case_id)
        if entry is None:
            return None
        if isinstance(entry, str):
            return entry
        return entry.get(target_id)

    def __len__(self) -> int:
        return len(self.entries)


def load(path: str, known_ids: set[str] | frozenset[str], flag: str = "--gateway-known-failures") -> Baseline:
    """Read and validate ``path``; raise :class:`BaselineError` (one line) for anything unusable.

    ``flag`` names where the path came from (the flag, or the environment variable or ini key).
    """
    import yaml

    if not os.path.isfile(path):
        why = ("is a directory" if os.path.isdir(path) else "not a regular file" if os.path.exists(path)
               else "no such file")
        raise BaselineError(f"{flag} {path}: {why}")
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except (OSError, UnicodeDecodeError) as exc:
        raise BaselineError(f"{flag} {path}: cannot read it: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise BaselineError(f"{flag} {path}: not valid YAML{where}") from None
    if data is None:
        return Baseline(path)
    if not isinstance(data, dict):
        raise BaselineError(f"{flag} {path}: expected a mapping of case id -> reason, not a {type(data).__name__}")
    entries: dict[str, str | dict[str, str]] = {}
    for case_id, value in data.items():
        if not isinstance(case_id, str) or case_id not in known_ids:
            raise BaselineError(f"{flag} {path}: unknown case id {case_id!r} (not in the catalogue)")
        if isinstance(value, dict):
            per_target = {}
            for target_id, reason in value.items():
                if not isinstance(target_id, str) or not _is_reason(reason):
                    raise BaselineError(f"{flag} {path}: {case_id}: expected target id -> reason text")
                per_target[target_id] = _reason_text(reason)
            entries[case_id] = per_target
        elif _is_reason(value):
            entries[case_id] = _reason_text(value)
        else:
            raise BaselineError(f"{flag} {path}: {case_id}: expected a reason or a mapping of target id -> reason")
    return Baseline(path, entries)


def _is_reason(value: object) -> bool:
    return value is None or isinstance(value, (str, int, float))


def _reason_text(value: object) -> str:
    return "known failure" if value is None or str(value).strip() == "" else str(value).strip()


def dump(failures: dict[str, dict[str, str]], ran: dict[str, set[str]], order: list[str] | None = None) -> str:
    """The YAML text of a baseline holding ``failures`` (``case -> {target: reason}``).

    A case that failed on every target it ran on (``ran[case]``) with one reason is written as
    ``case: reason``; otherwise per target. Cases come in ``order`` (the catalogue's), then by id.
    """
    import yaml

    position = {case_id: index for index, case_id in enumerate(order or ())}
    data: dict[str, str | dict[str, str]] = {}
    for case_id in sorted(failures, key=lambda case: (position.get(case, len(position)), case)):
        per_target = failures[case_id]
        reasons = set(per_target.values())
        if set(per_target) >= ran.get(case_id, set()) and len(reasons) == 1:
            data[case_id] = reasons.pop()
        else:
            data[case_id] = {target: per_target[target] for target in sorted(per_target)}
    if not data:
        return HEADER + "{}\n"
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000, default_flow_style=False)
    return HEADER + body


def write(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = f"{path}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


def summarize(message: str, limit: int = 200, empty: str = "failed") -> str:
    """A one-line reason from a failure message: ``expected ...; got ...``, else its first line."""
    expected = actual = None
    for line in message.splitlines():
        stripped = line.strip()
        if expected is None and stripped.startswith("expected:"):
            expected = stripped[len("expected:"):].strip()
        elif expected is not None and actual is None and stripped.startswith("actual:"):
            actual = stripped[len("actual:"):].strip()
    if expected is not None and actual is not None:
        text = f"expected {expected}; got {actual}"
    else:
        text = next((line.strip() for line in message.splitlines() if line.strip()), empty)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
