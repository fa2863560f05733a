"""Reports (``--gateway-report PATH``: .json, .md, .html) and the baseline writer of a CI gate.

:class:`GateRecorder` is registered on the process that owns the session (the xdist controller,
or the only process without xdist). It builds one :class:`Result` per (case, target) from
``pytest_runtest_logreport`` -- reading the ``wsgateway_*`` user properties the plugin puts on each
item, so it works the same when the reports come from xdist workers -- and writes the files at
``pytest_sessionfinish``. It depends on the results and the settings it is given only (never on
the plugin or the fixtures); the reports it reads are already redacted by the plugin's report
hook (on the worker that made them), and target URLs arrive redacted.

The JSON layout is versioned (:data:`SCHEMA_VERSION`) and documented in ``docs/report-schema.md``.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import datetime
import html
import json
import os
import re
from dataclasses import dataclass
from typing import Any

import pytest

from .levels import LEVELS

SCHEMA_NAME = "pytest-wsgateway-report"
SCHEMA_VERSION = 2
FORMATS = (".json", ".md", ".html")
#: Every verdict a (case, target) can get; ``fail``, ``error``, ``unexpected-pass`` and
#: ``inconclusive`` (the target could not be judged: see pytest_wsgateway.verdicts) fail the gate.
VERDICTS = ("pass", "fail", "error", "skip", "known-failure", "unexpected-pass", "inconclusive")
FAILING = ("fail", "error", "unexpected-pass", "inconclusive")


def check_report_path(path: str, option: str = "--gateway-report") -> str:
    """The report format of ``path`` (its extension); raise :class:`pytest.UsageError` if unknown or unwritable."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in FORMATS:
        raise pytest.UsageError(f"{option} {path}: unknown format {extension or '(no extension)'!r}; "
                                f"use a .json, .md or .html file name")
    check_writable(path, option)
    return extension


def check_writable(path: str, option: str) -> None:
    """Make sure ``path`` can be written at the end of the run: its folder exists (created now if
    missing) and is writable, and ``path`` is not a folder. Raise :class:`pytest.UsageError` with
    one line otherwise, so a bad path stops the run before any case runs."""
    if os.path.isdir(path):
        raise pytest.UsageError(f"{option} {path}: is a directory")
    folder = os.path.dirname(path)
    if folder and not os.path.isdir(folder):
        if os.path.lexists(folder):
            raise pytest.UsageError(f"{option} {path}: cannot write there: {folder} is not a folder")
        try:
            os.makedirs(folder, exist_ok=True)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise pytest.UsageError(f"{option} {path}: cannot create the folder {folder}: {reason}") from None
    if not os.access(folder or ".", os.W_OK | os.X_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        raise pytest.UsageError(f"{option} {path}: cannot write there: permission denied")


@dataclass
class Result:
    """The verdict of one case on one target."""

    case: str
    target: str
    title: str
    level: str
    rfc: str
    verdict: str = "pass"
    duration: float = 0.0
    message: str = ""
    known_failure: str | None = None
    #: The size ladder (``wsgateway_largest_message``, ``wsgateway_message_limit``): the largest
    #: message that came back intact before the first that did not, and how that one fared.
    largest_message: int | None = None
    message_limit: str | None = None


def _props(report: pytest.TestReport) -> dict[str, Any]:
    try:
        return {name: value for name, value in report.user_properties}
    except (TypeError, ValueError):
        return {}


#: The line pytest puts above a report that came from an xdist worker
#: (``[gw0] linux -- Python 3.11.7 /path/to/python``, ``_pytest.reports.getworkerinfoline``).
_WORKER_LINE = re.compile(r"\A\[[^\]\n]+\] [^\n]* -- Python [^\n]*(?:\n|\Z)")


def _text(report: pytest.TestReport) -> str:
    """The report's failure text as one process would show it: without xdist's worker line."""
    text = report.longreprtext
    if getattr(report, "node", None) is not None:
        text = _WORKER_LINE.sub("", text, count=1)
    return text


def _crash_line(report: pytest.TestReport) -> str:
    """What went wrong in a failed test's report, in one line: pytest's crash message (the
    exception), else the first ``E`` line of the (redacted) traceback text, else its first line."""
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return str(crash.message)
    text = _text(report)
    for line in text.splitlines():
        if line.startswith("E "):
            return line[1:].strip()
    return text


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return _text(report)


class GateRecorder:
    """Collects verdicts on the controller; writes reports and the baseline at session end."""

    def __init__(self, reports: tuple[str, ...], write_baseline: str | None, targets: list[tuple[str, str]],
                 case_order: list[str], previous: Any = None, vantage: str | None = None) -> None:
        self.reports = reports
        self.vantage = vantage  # --gateway-vantage (None: the report names the host only)
        self.write_baseline = write_baseline
        self.targets = targets  # (id, URL as shown) in the order of the run
        self.case_order = case_order  # the catalogue's case ids, in catalogue order
        self.previous = previous  # the Baseline given with --gateway-known-failures, if any
        self.results: dict[str, Result] = {}
        #: Tests of the run that are not conformance cases (origin-policy, browser-probe, a project's
        #: own tests) and failed or errored: node id -> what the report says of them.
        self.others: dict[str, dict[str, str]] = {}
        self.written: list[str] = []
        #: ``--dist each`` (pytest-xdist): every worker runs every item, each one a vantage point of
        #: its own: worker id -> its results, and -> its host (sent back in ``workeroutput``).
        self.each = False
        self.per_worker: dict[str, dict[str, Result]] = {}
        self.worker_hosts: dict[str, str] = {}

    # -- collecting ----------------------------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = _props(report)
        if "wsgateway_case" not in props:
            if report.failed and report.nodeid not in self.others:  # the run fails for it: say so
                self.others[report.nodeid] = {"test": report.nodeid, "verdict": "fail" if report.when == "call" else "error",
                                              "phase": report.when, "message": headline(_crash_line(report))}
            return
        results = self.results
        if self.each and getattr(report, "node", None) is not None:
            results = self.per_worker.setdefault(_worker_id(report.node), {})
        result = results.get(report.nodeid)
        if result is None:
            result = results[report.nodeid] = Result(
                case=str(props["wsgateway_case"]), target=str(props.get("wsgateway_target", "")),
                title=str(props.get("wsgateway_title", "")), level=str(props.get("wsgateway_level", "")),
                rfc=str(props.get("wsgateway_rfc", "")), known_failure=props.get("wsgateway_known_failure"))
        if report.when == "call":
            result.duration = round(report.duration, 6)
            if isinstance(props.get("wsgateway_largest_message"), int):
                result.largest_message = props["wsgateway_largest_message"]
            if props.get("wsgateway_message_limit"):
                result.message_limit = str(props["wsgateway_message_limit"])
        verdict, message = _classify(report, result.known_failure)
        if verdict is None:
            return
        if report.when == "teardown" and result.verdict != "pass":
            result.message = f"{result.message}\n\nteardown: {message}".strip()
            return
        result.verdict, result.message = verdict, message

    @pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: without xdist it is never called
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", None) or {}
        self.worker_hosts[_worker_id(node)] = str(output.get("wsgateway_host") or "")

    # -- writing -------------------------------------------------------------------------------

    def vantages(self) -> list[tuple[str, str, dict[str, Result]]]:
        """Under ``--dist each``: (vantage name, host, results) per worker, the name being
        ``--gateway-vantage`` (else the worker's host name) and the worker id (``eu-gw0``)."""
        found = []
        for worker in sorted(self.per_worker, key=lambda w: (len(w), w)):
            host = self.worker_hosts.get(worker, "")
            base = re.sub(r"[^A-Za-z0-9._@-]", "_", self.vantage or host or "worker").lstrip("._@-")[:50] or "worker"
            found.append((f"{base}-{worker}", host, self.per_worker[worker]))
        return found

    def _worst_of_each(self) -> None:
        """The gate's report under ``--dist each``: per item, the verdict that fails the gate first
        (a failure seen from one vantage is never hidden by a pass from another), its message
        prefixed with the vantage that saw it."""
        rank = {verdict: index for index, verdict in enumerate((*FAILING, "known-failure", "skip", "pass"))}
        for name, _, results in self.vantages():
            for nodeid, result in results.items():
                kept = self.results.get(nodeid)
                if kept is None or rank.get(result.verdict, 0) < rank.get(kept.verdict, 0):
                    shown = Result(**vars(result))
                    if shown.message:
                        shown.message = f"[vantage {name}] {shown.message}"
                    self.results[nodeid] = shown

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.per_worker:
            self._worst_of_each()
        ordered = self.ordered()
        document = build_document(ordered, self.targets, int(exitstatus), run=run_facts(self.vantage),
                                  others=list(self.others.values()))
        failed = False
        for path in [path for path in self.reports if path.lower().endswith(".json")] if self.per_worker else ():
            stem = path[:-len(".json")]
            for name, host, results in self.vantages():
                mine = self.ordered(results)
                own = build_document(mine, self.targets, int(any(r.verdict in FAILING for r in mine)),
                                     run={"vantage": name, "host": host})
                try:
                    _write(f"{stem}.{name}.json", render(own, ".json"))
                except OSError as exc:
                    failed = True
                    self.written.append(f"wsgateway: cannot write the report {stem}.{name}.json: "
                                        f"{_write_problem(path, exc)}")
                else:
                    self.written.append(f"wsgateway: vantage {name}: report written to {stem}.{name}.json")
        for path in self.reports:
            text = render(document, os.path.splitext(path)[1].lower())
            try:
                _write(path, text)
            except OSError as exc:  # checked at configure time; something changed since: one line
                failed = True
                self.written.append(f"wsgateway: cannot write the report {path}: {_write_problem(path, exc)}")
            else:
                self.written.append(f"wsgateway: report written to {path}")
        if self.write_baseline:
            try:
                self.write_baseline_file(ordered)
            except OSError as exc:
                failed = True
                self.written.append(f"wsgateway: cannot write the baseline {self.write_baseline}: "
                                    f"{_write_problem(self.write_baseline, exc)}")
        if failed and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.USAGE_ERROR  # the gate's files are lost: never "passed"

    def write_baseline_file(self, ordered: list[Result]) -> None:
        from . import baseline

        failures: dict[str, dict[str, str]] = {}
        ran: dict[str, set[str]] = {}
        for result in ordered:
            if result.verdict == "skip":
                continue
            ran.setdefault(result.case, set()).add(result.target)
            if result.verdict not in ("fail", "known-failure"):
                continue
            reason = result.known_failure or baseline.summarize(result.message)
            failures.setdefault(result.case, {})[result.target] = reason
        order = list(dict.fromkeys(result.case for result in ordered))
        baseline.write(self.write_baseline, baseline.dump(failures, ran, order))
        self.written.append(f"wsgateway: baseline of {len(failures)} known failure(s) written to {self.write_baseline}")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for line in self.written:
            terminalreporter.write_line(line)

    def ordered(self, results: dict[str, Result] | None = None) -> list[Result]:
        position = {case_id: index for index, case_id in enumerate(self.case_order)}
        target_position = {target_id: index for index, (target_id, _) in enumerate(self.targets)}
        chosen = self.results if results is None else results
        return sorted(chosen.values(), key=lambda r: (target_position.get(r.target, len(target_position)),
                                                      r.target, position.get(r.case, len(position)), r.case))


def _worker_id(node: Any) -> str:
    """An xdist worker's id (``gw0``), from the node a report came from."""
    workerinput = getattr(node, "workerinput", None) or {}
    return str(workerinput.get("workerid") or getattr(getattr(node, "gateway", None), "id", "") or "worker")


def _classify(report: pytest.TestReport, known_failure: str | None) -> tuple[str | None, str]:
    """(verdict, message) for one phase's report; (None, "") when the phase says nothing new."""
    if report.when == "call":
        if report.passed:
            return ("unexpected-pass" if known_failure else "pass"), ""
        if report.failed:
            text = getattr(report, "wsgateway_message", None) or _text(report)  # the case's explanation
            if "wsgateway_inconclusive" in _props(report):
                return "inconclusive", text
            if known_failure and text.startswith("[XPASS(strict)]"):
                return "unexpected-pass", (f"known failure now passes; remove it from the baseline "
                                           f"(reason was: {known_failure})")
            return "fail", text
        if hasattr(report, "wasxfail"):
            return "known-failure", _text(report)
        return "skip", _skip_reason(report)
    if report.failed:
        return "error", _text(report)
    if report.skipped:
        if hasattr(report, "wasxfail"):
            return "known-failure", _text(report)
        return "skip", _skip_reason(report)
    return None, ""


def _write_problem(path: str, exc: OSError) -> str:
    """Why writing ``path`` failed, in a few words."""
    folder = os.path.dirname(path)
    if folder and os.path.lexists(folder) and not os.path.isdir(folder):
        return f"{folder} is not a folder"
    return exc.strerror or str(exc)


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


# --- the document (the JSON schema, version 2) ---------------------------------------------------


def message_sizes(results: list[tuple[int | None, str | None]]) -> tuple[int | None, str | None]:
    """A target's size result from its ladder cases' ``(largest, limit)`` pairs: the largest message
    that came back intact below the first size that did not, in every case that stopped (a case
    stopped at its ``limit``: its largest counts; a case that carried every rung counts only when
    none stopped), and the first limit met (by size). ``(None, None)`` when no ladder ran."""
    stopped = [(largest, limit) for largest, limit in results if limit is not None]
    if stopped:
        largest_values = [largest for largest, _ in stopped]
        lowest = None if None in largest_values else min(largest_values)
        return lowest, min(stopped, key=lambda pair: -1 if pair[0] is None else pair[0])[1]
    carried = [largest for largest, _ in results if largest is not None]
    return (max(carried) if carried else None), None


def _counts(results: list[Result]) -> dict[str, int]:
    counts = dict.fromkeys(VERDICTS, 0)
    for result in results:
        counts[result.verdict] = counts.get(result.verdict, 0) + 1
    return counts


def _levels(results: list[Result]) -> list[str]:
    return list(dict.fromkeys([*LEVELS, *(r.level for r in results)]))


def run_facts(vantage: str | None) -> dict[str, Any]:
    """Where the run was made from: ``--gateway-vantage`` (or null) and the host name."""
    import platform

    return {"vantage": vantage, "host": platform.node()}


def build_document(results: list[Result], targets: list[tuple[str, str]], exit_status: int,
                   run: dict[str, Any] | None = None, others: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """The report as plain data; every format is rendered from it. See docs/report-schema.md.

    ``others``: the run's failed or errored tests that are not conformance cases (``test``,
    ``verdict`` fail/error, ``phase``, ``message``), so that a failed exit status is explained."""
    from . import __version__ as version

    levels = _levels(results)

    known = dict(targets)
    target_ids = list(dict.fromkeys([target_id for target_id, _ in targets] + [r.target for r in results]))
    target_ids = [target_id for target_id in target_ids if any(r.target == target_id for r in results)]
    target_entries = []
    for target_id in target_ids:
        mine = [r for r in results if r.target == target_id]
        largest, limit = message_sizes([(r.largest_message, r.message_limit) for r in mine
                                        if r.largest_message is not None or r.message_limit is not None])
        target_entries.append({
            "id": target_id,
            "url": known.get(target_id) or target_id,
            "passed": not any(r.verdict in FAILING for r in mine),
            "largest_message": largest,
            "message_limit": limit,
            "summary": {
                "total": _counts(mine),
                "by_level": {level: _counts([r for r in mine if r.level == level]) for level in levels},
            },
            "cases": [{
                "id": r.case, "title": r.title, "level": r.level, "rfc": r.rfc, "verdict": r.verdict,
                "duration": r.duration, "message": r.message, "known_failure": r.known_failure,
            } for r in mine],
        })
    rows: dict[str, dict[str, Any]] = {}
    for r in results:
        row = rows.setdefault(r.case, {"case": r.case, "title": r.title, "level": r.level, "rfc": r.rfc,
                                       "verdicts": dict.fromkeys(target_ids)})
        row["verdicts"][r.target] = r.verdict
    return {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "generator": {"name": "pytest-wsgateway", "version": version, "pytest": pytest.__version__},
        "created": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "exit_status": exit_status,
        "passed": exit_status == 0,
        "run": run if run is not None else run_facts(None),
        "levels": levels,
        "verdicts": list(VERDICTS),
        "summary": {"total": _counts(results),
                    "by_level": {level: _counts([r for r in results if r.level == level]) for level in levels}},
        "targets": target_entries,
        "matrix": {"targets": target_ids, "rows": list(rows.values())},
        "other_failures": list(others or ()),
    }


def render(document: dict[str, Any], extension: str) -> str:
    if extension == ".json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if extension == ".md":
        return render_markdown(document)
    if extension == ".html":
        return render_html(document)
    raise ValueError(f"unknown report format {extension!r}")


# --- failures first (shared by Markdown and HTML) ------------------------------------------------

#: How a verdict is shown: a text badge (never colour alone) and the order in the failures list.
BADGES = {"fail": "✗ FAIL", "error": "! ERROR", "unexpected-pass": "⚠ UNEXPECTED PASS", "inconclusive": "? INCONCLUSIVE",
          "known-failure": "~ KNOWN FAILURE", "skip": "– SKIP", "pass": "✓ PASS"}


def family(case_id: str) -> str:
    """The case family: the id's prefix before the first ``-`` (``reject``, ``upgrade``, ``tunnel``...)."""
    return case_id.split("-", 1)[0]


def headline(message: str, limit: int = 300) -> str:
    """One line saying what went wrong: ``expected ...; got ...`` when the message has both, else
    its first line (:func:`pytest_wsgateway.baseline.summarize`); whitespace folded, never cut
    mid-word (``…`` after the last whole word)."""
    from .baseline import summarize

    text = summarize(message, limit=len(message) + 1, empty="")
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + " …"


def failures_by_family(document: dict[str, Any]) -> list[tuple[str, list[tuple[dict[str, Any], dict[str, Any]]]]]:
    """The cases that fail the gate, as (family, [(target, case)...]) in catalogue order of families."""
    groups: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    order = [row["case"] for row in document["matrix"]["rows"]]
    for case_id in order:
        groups.setdefault(family(case_id), [])
    for target in document["targets"]:
        for case in target["cases"]:
            if case["verdict"] in FAILING:
                groups.setdefault(family(case["id"]), []).append((target, case))
    position = {case_id: index for index, case_id in enumerate(order)}
    target_position = {target["id"]: index for index, target in enumerate(document["targets"])}
    return [(name, sorted(items, key=lambda item: (position.get(item[1]["id"], 0), target_position[item[0]["id"]])))
            for name, items in groups.items() if items]


def anchor(target_id: str, case_id: str) -> str:
    """The id of a (case, target)'s details in the HTML report (also its Markdown anchor name)."""
    return "d-" + re.sub(r"[^A-Za-z0-9_.:-]", "_", f"{case_id}@{target_id}")


def _details_order(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Failing first (grouped by family, catalogue order within), then everything else."""
    families = list(dict.fromkeys(family(case["id"]) for case in cases))
    rank = {name: index for index, name in enumerate(families)}
    return sorted(cases, key=lambda case: (case["verdict"] not in FAILING, rank[family(case["id"])]))


# --- Markdown ------------------------------------------------------------------------------------


def _cell(text: Any) -> str:
    """One table cell: one line, pipes escaped, no raw HTML."""
    text = " ".join(str(text).split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return text or " "


def _fence(text: str) -> str:
    longest, run = 0, 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return "`" * max(3, longest + 1)


def size_text(entry: dict[str, Any]) -> str:
    """A target's size ladder result in words (the reports, the terminal summary)."""
    largest, limit = entry.get("largest_message"), entry.get("message_limit")
    text = f"{largest:,} bytes came back intact" if largest is not None else "no ladder message came back intact"
    return text + (f"; then {limit}" if limit else " (the largest size sent; no limit met)")


def _verdict_line(counts: dict[str, int]) -> list[str]:
    return [str(counts.get(verdict, 0)) for verdict in VERDICTS]


def _md_verdict(verdict: str) -> str:
    return f"**{BADGES.get(verdict, verdict)}**" if verdict in FAILING else BADGES.get(verdict, verdict)


def render_markdown(document: dict[str, Any]) -> str:
    status = "PASSED" if document["passed"] else "FAILED"
    lines = ["# WebSocket gateway conformance report", "",
             f"**{status}** (exit status {document['exit_status']}) · pytest-wsgateway "
             f"{document['generator']['version']} · {document['created']} · schema version {document['schema_version']}",
             "", "## Summary", "",
             "| Target | Level | " + " | ".join(VERDICTS) + " |",
             "|---|---|" + "---:|" * len(VERDICTS)]
    for target in document["targets"]:
        for level in document["levels"]:
            lines.append(f"| {_cell(target['id'])} | {level} | " + " | ".join(_verdict_line(target["summary"]["by_level"][level])) + " |")
        lines.append(f"| {_cell(target['id'])} | **all** | " + " | ".join(_verdict_line(target["summary"]["total"])) + " |")
    failures = failures_by_family(document)
    if failures:
        count = sum(len(items) for _, items in failures)
        lines += ["", "## Failures first", "",
                  f"{count} result(s) fail the gate (fail, error, unexpected-pass or inconclusive), by case family; "
                  f"each one's message, with the RFC quote and the transcript, is under its target below.", "",
                  " · ".join(f"`{_cell(name)}` {len(items)}" for name, items in failures)]
        for name, items in failures:
            lines += ["", f"### Family `{_cell(name)}`: {len(items)}", "",
                      "| Verdict | Case | Target | Level | What went wrong |", "|---|---|---|---|---|"]
            for target, case in items:
                lines.append(f"| {_md_verdict(case['verdict'])} | `{_cell(case['id'])}` | {_cell(target['id'])} | "
                             f"{case['level']} | {_cell(headline(case['message']))} |")
    others = document.get("other_failures") or []
    if others:
        lines += ["", "## Other tests that failed", "",
                  f"{len(others)} test(s) of the run that are not conformance cases failed; the exit status counts them.",
                  "", "| Verdict | Test | Phase | What went wrong |", "|---|---|---|---|"]
        lines += [f"| {_md_verdict(other['verdict'])} | `{_cell(other['test'])}` | {other['phase']} | {_cell(other['message'])} |"
                  for other in others]
    matrix = document["matrix"]
    if len(matrix["targets"]) > 1:
        lines += ["", "## Matrix", "", "| Case | Level | " + " | ".join(_cell(t) for t in matrix["targets"]) + " |",
                  "|---|---|" + "---|" * len(matrix["targets"])]
        for row in matrix["rows"]:
            cells = [_cell(row["verdicts"].get(t) or "n/a") for t in matrix["targets"]]
            lines.append(f"| `{_cell(row['case'])}` | {row['level']} | " + " | ".join(cells) + " |")
    for target in document["targets"]:
        cases = _details_order(target["cases"])
        lines += ["", f"## Target `{_cell(target['id'])}`", "", f"URL: {_cell(target['url'])}", ""]
        if target.get("largest_message") is not None or target.get("message_limit"):
            lines += [f"Largest message: {_cell(size_text(target))}", ""]
        lines += ["| Case | Title | Level | RFC | Verdict | Duration (s) |", "|---|---|---|---|---|---:|"]
        for case in cases:
            lines.append(f"| `{_cell(case['id'])}` | {_cell(case['title'])} | {case['level']} | {_cell(case['rfc'])} | "
                         f"{_md_verdict(case['verdict'])} | {case['duration']:.3f} |")
        details = [case for case in cases if case["message"] and case["verdict"] != "pass"]
        if details:
            lines += ["", f"### Messages for `{_cell(target['id'])}`"]
        for case in details:
            fence = _fence(case["message"])
            extra = f" (known failure: {_cell(case['known_failure'])})" if case["known_failure"] else ""
            lines += ["", f"#### `{_cell(case['id'])}` — {case['verdict']}{extra}", "", f"{fence}text", case["message"], fence]
    return "\n".join(lines) + "\n"


# --- HTML (one self-contained file, no JavaScript) -----------------------------------------------

_CSS = """
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;padding:1.25rem 2rem 3rem;color:#1b1b1b;max-width:96rem;line-height:1.45}
h1{margin:.2rem 0 .4rem;font-size:1.6rem}h2{margin:2rem 0 .5rem;padding-bottom:.2rem;border-bottom:2px solid #d0d7de;font-size:1.3rem}
h3{margin:1.4rem 0 .4rem;font-size:1.1rem}
a{color:#0550ae}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"DejaVu Sans Mono",monospace}
table{border-collapse:collapse;margin:.5rem 0 1rem;width:100%}
th,td{border:1px solid #d0d7de;padding:.3rem .55rem;text-align:left;vertical-align:top}
th{background:#eef1f4;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
td.zero{color:#8c959f}#summary td code,.index td code,#matrix td code{white-space:nowrap}
tr.level-all td{border-bottom:2px solid #8c959f;font-weight:600}
#summary th .badge{white-space:normal;text-align:center}
.badge{display:inline-block;padding:.08rem .5rem;border-radius:.3rem;font-weight:700;font-size:.8rem;letter-spacing:.03em;white-space:nowrap;border:2px solid transparent}
.b-fail{background:#c5221f;color:#fff}
.b-error{background:#6a1b9a;color:#fff}
.b-unexpected-pass{background:#ad1457;color:#fff}
.b-inconclusive{background:#f9ab00;color:#000}
.b-known-failure{background:#fff;color:#8a4b00;border-color:#c26401}
.b-skip{background:#e4e7eb;color:#3d4650}
.b-pass{background:#137333;color:#fff}
.status{font-size:1.15rem;padding:.2rem .8rem}
.meta{color:#57606a;margin:.2rem 0 1rem}
tr.fail td.v,tr.error td.v,tr.unexpected-pass td.v,tr.inconclusive td.v{background:#fde7e9}
td.cell-fail,td.cell-error,td.cell-unexpected-pass{background:#fde7e9}td.cell-inconclusive{background:#fff4ce}
td.cell-pass{background:#f1faf3}
.families{margin:.3rem 0 .8rem;display:flex;flex-wrap:wrap;gap:.4rem}
.families a{padding:.15rem .6rem;border:1px solid #d0d7de;border-radius:1rem;text-decoration:none;background:#f6f8fa}
.what{overflow-wrap:anywhere}
.detail{border:1px solid #d0d7de;border-left:8px solid #c5221f;border-radius:.3rem;margin:.9rem 0;padding:.5rem .9rem;background:#fff}
.detail.error{border-left-color:#6a1b9a}.detail.unexpected-pass{border-left-color:#ad1457}.detail.inconclusive{border-left-color:#f9ab00}
.detail h4{margin:.2rem 0;font-size:1rem;display:flex;flex-wrap:wrap;gap:.5rem;align-items:baseline}
.detail .facts{margin:.2rem 0;color:#57606a;font-size:.9rem}
.detail .what{margin:.3rem 0;font-weight:600}
.detail:target{outline:3px solid #0969da}
pre{white-space:pre-wrap;overflow-wrap:anywhere;word-break:normal;background:#f6f8fa;border:1px solid #d0d7de;border-radius:.3rem;padding:.6rem .8rem;margin:.4rem 0;font-size:.82rem;line-height:1.4;width:100%;max-height:40rem;overflow:auto}
details>summary{cursor:pointer;padding:.25rem 0;font-weight:600}
details.passing{margin:.5rem 0 1rem;border:1px solid #d0d7de;border-radius:.3rem;padding:.2rem .8rem}
"""


def _badge(verdict: str) -> str:
    return f'<span class="badge b-{html.escape(verdict)}">{html.escape(BADGES.get(verdict, verdict.upper()))}</span>'


def _count_cell(count: int, verdict: str, href: str | None) -> str:
    if not count:
        return '<td class="n zero">0</td>'
    text = str(count)
    if href:
        text = f'<a href="#{html.escape(href)}">{text}</a>'
    return f'<td class="n cell-{verdict}">{text}</td>'


def render_html(document: dict[str, Any]) -> str:
    e = html.escape
    passed = document["passed"]
    failures = failures_by_family(document)
    failing = {(target["id"], case["id"]) for _, items in failures for target, case in items}
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>WebSocket gateway conformance report</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
           "<h1>WebSocket gateway conformance report</h1>",
           f'<p class="meta"><strong class="badge status b-{"pass" if passed else "fail"} status-{"passed" if passed else "failed"}"'
           f' id="status">{"✓ PASSED" if passed else "✗ FAILED"}</strong>'
           f" exit status {document['exit_status']} · pytest-wsgateway {e(document['generator']['version'])}"
           f" · {e(document['created'])} · schema version {document['schema_version']}</p>"]
    # -- summary: per target and level; counts link to where those results are
    out += ["<h2>Summary</h2>", '<table id="summary">',
            "<tr><th>Target</th><th>Level</th>" + "".join(f"<th>{_badge(v)}</th>" for v in VERDICTS) + "</tr>"]
    for target in document["targets"]:
        for level in [*document["levels"], "all"]:
            counts = target["summary"]["total"] if level == "all" else target["summary"]["by_level"][level]
            cells = []
            for verdict in VERDICTS:
                href = ("failures" if verdict in FAILING else f"passing-{target['id']}" if verdict == "pass"
                        else f"target-{target['id']}")
                cells.append(_count_cell(counts[verdict], verdict, href))
            label = "<strong>all</strong>" if level == "all" else level
            first = "" if level != document["levels"][0] else (
                f'<td rowspan="{len(document["levels"]) + 1}"><a href="#target-{e(target["id"])}">'
                f'<code>{e(target["id"])}</code></a></td>')
            out.append(f'<tr data-target="{e(target["id"])}" data-level="{level}" class="level-{level}">{first}'
                       f"<td>{label}</td>" + "".join(cells) + "</tr>")
    out.append("</table>")
    # -- failures first: an index by case family, each row linked to its details
    if failures:
        count = sum(len(items) for _, items in failures)
        out += [f'<h2 id="failures">Failures first: {count} result(s) fail the gate</h2>',
                "<p>Failed, errored, unexpectedly passed or could not be judged, grouped by case family; "
                "each links to its details (requirement, RFC quote, transcript) below.</p>",
                '<nav class="families">' + "".join(
                    f'<a href="#family-{e(name)}"><code>{e(name)}</code> {len(items)}</a>' for name, items in failures)
                + "</nav>"]
        for name, items in failures:
            out += [f'<h3 id="family-{e(name)}">Family <code>{e(name)}</code>: {len(items)}</h3>', '<table class="index">',
                    "<tr><th>Verdict</th><th>Case</th><th>Target</th><th>Level</th><th>What went wrong</th></tr>"]
            for target, case in items:
                out.append(f'<tr data-failure="{e(case["id"])}@{e(target["id"])}"><td>{_badge(case["verdict"])}</td>'
                           f'<td><a href="#{anchor(target["id"], case["id"])}"><code>{e(case["id"])}</code></a></td>'
                           f'<td><code>{e(target["id"])}</code></td><td>{e(case["level"])}</td>'
                           f'<td class="what">{e(headline(case["message"]))}</td></tr>')
            out.append("</table>")
    # -- tests of the run that are not conformance cases and failed: they explain the exit status
    others = document.get("other_failures") or []
    if others:
        out += [f'<h2 id="other-failures">Other tests that failed: {len(others)}</h2>',
                "<p>Not conformance cases; the exit status counts them.</p>", '<table class="index">',
                "<tr><th>Verdict</th><th>Test</th><th>Phase</th><th>What went wrong</th></tr>"]
        out += [f'<tr class="{e(other["verdict"])}"><td class="v">{_badge(other["verdict"])}</td>'
                f'<td><code>{e(other["test"])}</code></td><td>{e(other["phase"])}</td>'
                f'<td class="what">{e(other["message"])}</td></tr>' for other in others]
        out.append("</table>")
    # -- the matrix (several targets): every failing cell links to its details
    matrix = document["matrix"]
    if len(matrix["targets"]) > 1:
        out += ["<h2>Matrix</h2>", '<table id="matrix">',
                "<tr><th>Case</th><th>Level</th>" + "".join(f"<th><code>{e(t)}</code></th>" for t in matrix["targets"]) + "</tr>"]
        for row in matrix["rows"]:
            cells = []
            for t in matrix["targets"]:
                verdict = row["verdicts"].get(t)
                if verdict is None:
                    cells.append(f'<td data-target="{e(t)}">n/a</td>')
                    continue
                badge = _badge(verdict)
                if (t, row["case"]) in failing:
                    badge = f'<a href="#{anchor(t, row["case"])}">{badge}</a>'
                cells.append(f'<td class="cell-{e(verdict)}" data-target="{e(t)}">{badge}</td>')
            out.append(f'<tr data-case="{e(row["case"])}"><td><code>{e(row["case"])}</code></td><td>{e(row["level"])}</td>'
                       + "".join(cells) + "</tr>")
        out.append("</table>")
    # -- details of every result that fails the gate, by family: full width, monospaced, wrapped
    if failures:
        out.append('<h2 id="details">Details</h2>')
        for name, items in failures:
            out.append(f"<h3>Family <code>{e(name)}</code></h3>")
            for target, case in items:
                out += [f'<article class="detail {e(case["verdict"])}" id="{anchor(target["id"], case["id"])}">',
                        f'<h4>{_badge(case["verdict"])} <code>{e(case["id"])}</code> <span>{e(case["title"])}</span></h4>',
                        f'<p class="facts">target <code>{e(target["id"])}</code> · {e(case["level"])} · {e(case["rfc"])}'
                        f' · {case["duration"]:.3f} s</p>',
                        f'<p class="what">{e(headline(case["message"]))}</p>',
                        f"<pre>{e(case['message'])}</pre>", "</article>"]
    # -- every result per target: what did not pass first, the passing rows collapsed
    for target in document["targets"]:
        cases = target["cases"]
        others = _details_order([case for case in cases if case["verdict"] != "pass"])
        passing = [case for case in cases if case["verdict"] == "pass"]
        head = "<tr><th>Case</th><th>Title</th><th>Level</th><th>RFC</th><th>Verdict</th><th>Duration (s)</th><th>Note</th></tr>"
        out += [f'<h2 id="target-{e(target["id"])}">Target <code>{e(target["id"])}</code></h2>',
                f"<p>URL: {e(target['url'])}</p>"]
        if target.get("largest_message") is not None or target.get("message_limit"):
            out.append(f'<p class="sizes" data-largest-message="{target.get("largest_message") or ""}">'
                       f"Largest message: {e(size_text(target))}</p>")
        if others:
            out += [f'<table class="cases" data-target="{e(target["id"])}">', head]
            out += [_case_row(target, case, (target["id"], case["id"]) in failing) for case in others]
            out.append("</table>")
        if passing:
            out += [f'<details class="passing" id="passing-{e(target["id"])}"><summary>{_badge("pass")} '
                    f"{len(passing)} passed (show)</summary>",
                    f'<table class="cases" data-target="{e(target["id"])}">', head]
            out += [_case_row(target, case, False) for case in passing]
            out += ["</table>", "</details>"]
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def _case_row(target: dict[str, Any], case: dict[str, Any], linked: bool) -> str:
    e = html.escape
    note = ""
    if linked:
        note = f'<a href="#{anchor(target["id"], case["id"])}">details</a>'
    elif case["message"]:
        if case["verdict"] == "skip":
            note = e(case["message"])
        else:
            note = f"<details><summary>message</summary><pre>{e(case['message'])}</pre></details>"
    if case["known_failure"]:
        note = f"<p>known failure: {e(case['known_failure'])}</p>" + note
    return (f'<tr class="{e(case["verdict"])}" data-case="{e(case["id"])}" data-verdict="{e(case["verdict"])}">'
            f"<td><code>{e(case['id'])}</code></td><td>{e(case['title'])}</td><td>{e(case['level'])}</td>"
            f"<td>{e(case['rfc'])}</td><td class=\"v\">{_badge(case['verdict'])}</td>"
            f"<td class=\"n\">{case['duration']:.3f}</td><td>{note}</td></tr>")


__all__ = ["BADGES", "GateRecorder", "Result", "SCHEMA_VERSION", "anchor", "build_document", "check_report_path",
           "family", "headline", "message_sizes", "render", "size_text"]
