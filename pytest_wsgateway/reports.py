"""Reports (``--gateway-report PATH``: .json, .md, .html) and the baseline writer of a CI gate.

:class:`GateRecorder` is registered on the process that owns the session (the xdist controller,
or the only process without xdist). It builds one :class:`Result` per (case, target) from
``pytest_runtest_logreport`` -- reading the ``wsgateway_*`` user properties the plugin puts on each
item, so it works the same when the reports come from xdist workers -- and writes the files at
``pytest_sessionfinish``. It depends on the results and the settings it is given only (never on
the plugin or the fixtures); the reports it reads are already redacted by the plugin's report
hook (on the worker that made them), and target URLs arrive redacted.

The JSON layout is versioned (:data:`SCHEMA_VERSION`) and documented in ``docs/report-schema.md``.
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


def check_report_path(path: str) -> str:
    """The report format of ``path`` (its extension); raise :class:`pytest.UsageError` if unknown."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in FORMATS:
        raise pytest.UsageError(f"--gateway-report {path}: unknown format {extension or '(no extension)'!r}; "
                                f"use a .json, .md or .html file name")
    if os.path.isdir(path):
        raise pytest.UsageError(f"--gateway-report {path}: is a directory")
    return extension


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


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return _text(report)


class GateRecorder:
    """Collects verdicts on the controller; writes reports and the baseline at session end."""

    def __init__(self, reports: tuple[str, ...], write_baseline: str | None, targets: list[tuple[str, str]],
                 case_order: list[str], previous: Any = None) -> None:
        self.reports = reports
        self.write_baseline = write_baseline
        self.targets = targets  # (id, URL as shown) in the order of the run
        self.case_order = case_order  # the catalogue's case ids, in catalogue order
        self.previous = previous  # the Baseline given with --gateway-known-failures, if any
        self.results: dict[str, Result] = {}
        self.written: list[str] = []

    # -- collecting ----------------------------------------------------------------------------

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = _props(report)
        if "wsgateway_case" not in props:
            return
        result = self.results.get(report.nodeid)
        if result is None:
            result = self.results[report.nodeid] = Result(
                case=str(props["wsgateway_case"]), target=str(props.get("wsgateway_target", "")),
                title=str(props.get("wsgateway_title", "")), level=str(props.get("wsgateway_level", "")),
                rfc=str(props.get("wsgateway_rfc", "")), known_failure=props.get("wsgateway_known_failure"))
        if report.when == "call":
            result.duration = round(report.duration, 6)
        verdict, message = _classify(report, result.known_failure)
        if verdict is None:
            return
        if report.when == "teardown" and result.verdict != "pass":
            result.message = f"{result.message}\n\nteardown: {message}".strip()
            return
        result.verdict, result.message = verdict, message

    # -- writing -------------------------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        ordered = self.ordered()
        document = build_document(ordered, self.targets, int(exitstatus))
        for path in self.reports:
            text = render(document, os.path.splitext(path)[1].lower())
            _write(path, text)
            self.written.append(f"wsgateway: report written to {path}")
        if self.write_baseline:
            self.write_baseline_file(ordered)

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

    def ordered(self) -> list[Result]:
        position = {case_id: index for index, case_id in enumerate(self.case_order)}
        target_position = {target_id: index for index, (target_id, _) in enumerate(self.targets)}
        return sorted(self.results.values(), key=lambda r: (target_position.get(r.target, len(target_position)),
                                                             r.target, position.get(r.case, len(position)), r.case))


def _classify(report: pytest.TestReport, known_failure: str | None) -> tuple[str | None, str]:
    """(verdict, message) for one phase's report; (None, "") when the phase says nothing new."""
    if report.when == "call":
        if report.passed:
            return ("unexpected-pass" if known_failure else "pass"), ""
        if report.failed:
            text = _text(report)
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


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


# --- the document (the JSON schema, version 1) ---------------------------------------------------


def _counts(results: list[Result]) -> dict[str, int]:
    counts = dict.fromkeys(VERDICTS, 0)
    for result in results:
        counts[result.verdict] = counts.get(result.verdict, 0) + 1
    return counts


def _levels(results: list[Result]) -> list[str]:
    return list(dict.fromkeys([*LEVELS, *(r.level for r in results)]))


def build_document(results: list[Result], targets: list[tuple[str, str]], exit_status: int) -> dict[str, Any]:
    """The report as plain data; every format is rendered from it. See docs/report-schema.md."""
    from . import __version__ as version

    levels = _levels(results)

    known = dict(targets)
    target_ids = list(dict.fromkeys([target_id for target_id, _ in targets] + [r.target for r in results]))
    target_ids = [target_id for target_id in target_ids if any(r.target == target_id for r in results)]
    target_entries = []
    for target_id in target_ids:
        mine = [r for r in results if r.target == target_id]
        target_entries.append({
            "id": target_id,
            "url": known.get(target_id) or target_id,
            "passed": not any(r.verdict in FAILING for r in mine),
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
        "levels": levels,
        "verdicts": list(VERDICTS),
        "summary": {"total": _counts(results),
                    "by_level": {level: _counts([r for r in results if r.level == level]) for level in levels}},
        "targets": target_entries,
        "matrix": {"targets": target_ids, "rows": list(rows.values())},
    }


def render(document: dict[str, Any], extension: str) -> str:
    if extension == ".json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if extension == ".md":
        return render_markdown(document)
    if extension == ".html":
        return render_html(document)
    raise ValueError(f"unknown report format {extension!r}")


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


def _verdict_line(counts: dict[str, int]) -> list[str]:
    return [str(counts.get(verdict, 0)) for verdict in VERDICTS]


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
    matrix = document["matrix"]
    if len(matrix["targets"]) > 1:
        lines += ["", "## Matrix", "", "| Case | Level | " + " | ".join(_cell(t) for t in matrix["targets"]) + " |",
                  "|---|---|" + "---|" * len(matrix["targets"])]
        for row in matrix["rows"]:
            cells = [_cell(row["verdicts"].get(t) or "n/a") for t in matrix["targets"]]
            lines.append(f"| `{_cell(row['case'])}` | {row['level']} | " + " | ".join(cells) + " |")
    for target in document["targets"]:
        lines += ["", f"## Target `{_cell(target['id'])}`", "", f"URL: {_cell(target['url'])}", "",
                  "| Case | Title | Level | RFC | Verdict | Duration (s) |", "|---|---|---|---|---|---:|"]
        for case in target["cases"]:
            lines.append(f"| `{_cell(case['id'])}` | {_cell(case['title'])} | {case['level']} | {_cell(case['rfc'])} | "
                         f"{case['verdict']} | {case['duration']:.3f} |")
        details = [case for case in target["cases"] if case["message"] and case["verdict"] != "pass"]
        if details:
            lines += ["", f"### Messages for `{_cell(target['id'])}`"]
        for case in details:
            fence = _fence(case["message"])
            extra = f" (known failure: {_cell(case['known_failure'])})" if case["known_failure"] else ""
            lines += ["", f"#### `{_cell(case['id'])}` — {case['verdict']}{extra}", "", f"{fence}text", case["message"], fence]
    return "\n".join(lines) + "\n"


# --- HTML (one self-contained file, no JavaScript) -----------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:80rem}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right}pre{white-space:pre-wrap;background:#f8f8f8;padding:.5rem;margin:.25rem 0}
.pass{background:#e6f4ea}.fail,.error,.unexpected-pass{background:#fce8e6}.skip{background:#f1f3f4}.known-failure{background:#fef7e0}.inconclusive{background:#fff3cd}
.status-passed{color:#137333}.status-failed{color:#a50e0e}
"""


def render_html(document: dict[str, Any]) -> str:
    e = html.escape
    passed = document["passed"]
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           "<title>WebSocket gateway conformance report</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
           "<h1>WebSocket gateway conformance report</h1>",
           f'<p><strong class="status-{"passed" if passed else "failed"}" id="status">{"PASSED" if passed else "FAILED"}</strong>'
           f" (exit status {document['exit_status']}) · pytest-wsgateway {e(document['generator']['version'])}"
           f" · {e(document['created'])} · schema version {document['schema_version']}</p>",
           "<h2>Summary</h2>", '<table id="summary">',
           "<tr><th>Target</th><th>Level</th>" + "".join(f"<th>{v}</th>" for v in VERDICTS) + "</tr>"]
    for target in document["targets"]:
        for level in [*document["levels"], "all"]:
            counts = target["summary"]["total"] if level == "all" else target["summary"]["by_level"][level]
            out.append(f'<tr data-target="{e(target["id"])}" data-level="{level}"><td>{e(target["id"])}</td><td>{level}</td>'
                       + "".join(f'<td class="n">{counts[v]}</td>' for v in VERDICTS) + "</tr>")
    out.append("</table>")
    matrix = document["matrix"]
    if len(matrix["targets"]) > 1:
        out += ["<h2>Matrix</h2>", '<table id="matrix">',
                "<tr><th>Case</th><th>Level</th>" + "".join(f"<th>{e(t)}</th>" for t in matrix["targets"]) + "</tr>"]
        for row in matrix["rows"]:
            cells = "".join(
                f'<td class="{e(row["verdicts"].get(t) or "")}" data-target="{e(t)}">{e(row["verdicts"].get(t) or "n/a")}</td>'
                for t in matrix["targets"])
            out.append(f'<tr data-case="{e(row["case"])}"><td><code>{e(row["case"])}</code></td><td>{e(row["level"])}</td>{cells}</tr>')
        out.append("</table>")
    for target in document["targets"]:
        out += [f'<h2 id="target-{e(target["id"])}">Target <code>{e(target["id"])}</code></h2>',
                f"<p>URL: {e(target['url'])}</p>", f'<table class="cases" data-target="{e(target["id"])}">',
                "<tr><th>Case</th><th>Title</th><th>Level</th><th>RFC</th><th>Verdict</th><th>Duration (s)</th><th>Message</th></tr>"]
        for case in target["cases"]:
            message = ""
            if case["message"]:
                summary = e(case["message"].strip().splitlines()[0][:120]) if case["message"].strip() else "message"
                message = f"<details><summary>{summary}</summary><pre>{e(case['message'])}</pre></details>"
            if case["known_failure"]:
                message = f"<p>known failure: {e(case['known_failure'])}</p>" + message
            out.append(
                f'<tr class="{e(case["verdict"])}" data-case="{e(case["id"])}" data-verdict="{e(case["verdict"])}">'
                f"<td><code>{e(case['id'])}</code></td><td>{e(case['title'])}</td><td>{e(case['level'])}</td>"
                f"<td>{e(case['rfc'])}</td><td>{e(case['verdict'])}</td><td class=\"n\">{case['duration']:.3f}</td>"
                f"<td>{message}</td></tr>")
        out.append("</table>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


__all__ = ["GateRecorder", "Result", "SCHEMA_VERSION", "build_document", "check_report_path", "render"]
