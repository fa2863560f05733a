"""Several runs' JSON reports in one matrix (``merge``), and what changed between two (``diff``).

The functions here take and return plain data: :func:`parse_report` reads the bytes of a
``--gateway-report`` JSON document (docs/report-schema.md, version 2) or of a merged document
(:data:`MERGED_SCHEMA`, docs/report-schema.md) into :class:`Run` records; :func:`merge` joins runs
into the merged document (targets x cases, one column group per *vantage*: where a run was made
from); :func:`diff` lists what changed between two sets of runs, new failures first; the
``render_*`` functions turn these into text. :mod:`pytest_wsgateway.report_cli` is the thin
command line (``wsgateway-report``) around them: it reads the files (:func:`read_report`) and
writes the output.

Nothing here adds text to what the reports hold: the run reports were redacted when they were
written, and a merged document keeps only one-line headlines of their messages (bounded), so a
merged output holds no more than its inputs did. Every problem with an input is one
:class:`ReportError` line naming the file.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import datetime
import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

RUN_SCHEMA = "pytest-wsgateway-report"
RUN_SCHEMA_VERSIONS = (2,)
MERGED_SCHEMA = "pytest-wsgateway-merged-report"
MERGED_SCHEMA_VERSION = 1
#: The same verdicts as :data:`pytest_wsgateway.reports.VERDICTS` (a test checks they agree).
VERDICTS = ("pass", "fail", "error", "skip", "known-failure", "unexpected-pass", "inconclusive")
FAILING = ("fail", "error", "unexpected-pass", "inconclusive")
#: What a diff calls a new failure: the gateway failed a case (not "could not be judged").
BROKEN = ("fail", "error")
#: A report is a few MB at most (a message is bounded); a bigger file is a mistake.
MAX_BYTES = 32 << 20
#: A label (vantage name): safe in a file name, a column head and a test id.
LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
HEADLINE = 300


class ReportError(ValueError):
    """An input that is not a usable report; the message is one line naming the file."""


@dataclass
class Result:
    verdict: str
    level: str = ""
    title: str = ""
    rfc: str = ""
    headline: str = ""


@dataclass
class Run:
    """One run's results: ``results[(target id, case id)]``."""

    vantage: str
    source: str
    created: str = ""
    exit_status: int | None = None
    passed: bool | None = None
    host: str = ""
    version: str = ""
    targets: dict[str, str] = field(default_factory=dict)  # id -> URL as shown (ordered)
    cases: list[str] = field(default_factory=list)  # case ids in catalogue order
    results: dict[tuple[str, str], Result] = field(default_factory=dict)


# --- reading ---------------------------------------------------------------------------------------


def read_report(path: str, *, max_bytes: int = MAX_BYTES) -> list[Run]:
    """The runs in the report at ``path`` (one for a run report, one per vantage for a merged one)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise ReportError(f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a NUL byte in the path
        raise ReportError(f"{path}: cannot read: {exc}") from None
    if len(data) > max_bytes:
        raise ReportError(f"{path}: larger than {max_bytes >> 20} MiB; not a pytest-wsgateway report")
    return parse_report(data, path)


def parse_report(data: bytes, name: str) -> list[Run]:
    """The runs in ``data`` (a JSON report); :class:`ReportError` naming ``name`` otherwise."""
    try:
        document = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ReportError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start}); not a JSON report") from None
    except RecursionError:
        raise ReportError(f"{name}: nested too deeply; not a pytest-wsgateway report") from None
    except ValueError as exc:
        raise ReportError(f"{name}: not JSON ({str(exc).splitlines()[0][:120]}); expected the .json file written "
                          f"by --gateway-report") from None
    if not isinstance(document, dict) or document.get("schema") not in (RUN_SCHEMA, MERGED_SCHEMA):
        raise ReportError(f"{name}: not a pytest-wsgateway report (no \"schema\": \"{RUN_SCHEMA}\")")
    version = document.get("schema_version")
    if document["schema"] == MERGED_SCHEMA:
        if version != MERGED_SCHEMA_VERSION:
            raise ReportError(f"{name}: merged report schema version {_shown(version)} is not supported "
                              f"(this is version {MERGED_SCHEMA_VERSION})")
        return _merged_runs(document, name)
    if version not in RUN_SCHEMA_VERSIONS:
        raise ReportError(f"{name}: report schema version {_shown(version)} is not supported "
                          f"(supported: {', '.join(map(str, RUN_SCHEMA_VERSIONS))})")
    return [_run(document, name)]


def _shown(value: object) -> str:
    text = json.dumps(value) if isinstance(value, (int, str, float, type(None), bool)) else type(value).__name__
    return text if len(text) <= 20 else text[:17] + "..."


def _need(condition: bool, name: str, where: str, what: str) -> None:
    if not condition:
        raise ReportError(f"{name}: malformed report: {where}: {what}")


def _str(value: object, name: str, where: str, *, empty: bool = True) -> str:
    _need(isinstance(value, str) and (empty or bool(value)), name, where, "expected a string")
    return value  # type: ignore[return-value]


def _run(document: dict[str, Any], name: str) -> Run:
    meta = document.get("run") if isinstance(document.get("run"), dict) else {}
    host = meta.get("host") if isinstance(meta.get("host"), str) else ""
    vantage = meta.get("vantage") if isinstance(meta.get("vantage"), str) else ""
    generator = document.get("generator") if isinstance(document.get("generator"), dict) else {}
    run = Run(vantage=vantage or host or _stem(name), source=os.path.basename(name),
              created=str(document.get("created") or ""), host=host,
              exit_status=document.get("exit_status") if isinstance(document.get("exit_status"), int) else None,
              passed=document.get("passed") if isinstance(document.get("passed"), bool) else None,
              version=str(generator.get("version") or ""))
    targets = document.get("targets")
    _need(isinstance(targets, list), name, "targets", "expected a list")
    for index, target in enumerate(targets):
        where = f"targets[{index}]"
        _need(isinstance(target, dict), name, where, "expected an object")
        target_id = _str(target.get("id"), name, f"{where}.id", empty=False)
        run.targets[target_id] = str(target.get("url") or target_id)
        cases = target.get("cases")
        _need(isinstance(cases, list), name, f"{where}.cases", "expected a list")
        for number, case in enumerate(cases):
            here = f"{where}.cases[{number}]"
            _need(isinstance(case, dict), name, here, "expected an object")
            case_id = _str(case.get("id"), name, f"{here}.id", empty=False)
            verdict = case.get("verdict")
            _need(verdict in VERDICTS, name, f"{here}.verdict", f"expected one of {', '.join(VERDICTS)}")
            message = case.get("message") if isinstance(case.get("message"), str) else ""
            run.results[(target_id, case_id)] = Result(verdict, str(case.get("level") or ""),
                                                       str(case.get("title") or ""), str(case.get("rfc") or ""),
                                                       headline(message) if verdict != "pass" else "")
            run.cases.append(case_id)
    run.cases = list(dict.fromkeys(run.cases))
    matrix = document.get("matrix")
    if isinstance(matrix, dict) and isinstance(matrix.get("rows"), list):  # the catalogue order
        order = [row.get("case") for row in matrix["rows"] if isinstance(row, dict) and isinstance(row.get("case"), str)]
        run.cases = list(dict.fromkeys([*order, *run.cases]))
    return run


def _merged_runs(document: dict[str, Any], name: str) -> list[Run]:
    vantages = document.get("vantages")
    _need(isinstance(vantages, list) and bool(vantages), name, "vantages", "expected a non-empty list")
    runs: dict[str, Run] = {}
    for index, entry in enumerate(vantages):
        where = f"vantages[{index}]"
        _need(isinstance(entry, dict), name, where, "expected an object")
        vantage = _str(entry.get("name"), name, f"{where}.name", empty=False)
        runs[vantage] = Run(vantage=vantage, source=str(entry.get("source") or os.path.basename(name)),
                            created=str(entry.get("created") or ""), host=str(entry.get("host") or ""),
                            exit_status=entry.get("exit_status") if isinstance(entry.get("exit_status"), int) else None,
                            passed=entry.get("passed") if isinstance(entry.get("passed"), bool) else None,
                            version=str(entry.get("version") or ""))
    targets = document.get("targets")
    _need(isinstance(targets, list), name, "targets", "expected a list")
    for index, target in enumerate(targets):
        _need(isinstance(target, dict), name, f"targets[{index}]", "expected an object")
        target_id = _str(target.get("id"), name, f"targets[{index}].id", empty=False)
        urls = target.get("urls") if isinstance(target.get("urls"), dict) else {}
        for vantage, run in runs.items():
            if vantage in urls:
                run.targets[target_id] = str(urls[vantage])
    notes: dict[tuple[str, str, str], str] = {}
    for note in document.get("notes") or []:
        if isinstance(note, dict) and all(isinstance(note.get(key), str) for key in ("vantage", "target", "case")):
            notes[(note["vantage"], note["target"], note["case"])] = str(note.get("headline") or "")
    rows = document.get("rows")
    _need(isinstance(rows, list), name, "rows", "expected a list")
    for index, row in enumerate(rows):
        where = f"rows[{index}]"
        _need(isinstance(row, dict) and isinstance(row.get("verdicts"), dict), name, where,
              "expected an object with 'verdicts'")
        case_id = _str(row.get("case"), name, f"{where}.case", empty=False)
        for vantage, cells in row["verdicts"].items():
            _need(vantage in runs and isinstance(cells, dict), name, f"{where}.verdicts",
                  f"unknown vantage {_shown(vantage)}")
            run = runs[vantage]
            run.cases.append(case_id)
            for target_id, verdict in cells.items():
                if verdict is None:
                    continue
                _need(verdict in VERDICTS, name, f"{where}.verdicts", f"expected one of {', '.join(VERDICTS)}")
                run.targets.setdefault(target_id, target_id)
                run.results[(target_id, case_id)] = Result(verdict, str(row.get("level") or ""),
                                                           str(row.get("title") or ""), str(row.get("rfc") or ""),
                                                           notes.get((vantage, target_id, case_id), ""))
    return list(runs.values())


def _stem(path: str) -> str:
    stem = os.path.splitext(os.path.basename(path))[0]
    stem = re.sub(r"[^A-Za-z0-9._@-]", "_", stem).lstrip("._-@") or "run"
    return stem[:64]


def headline(message: str, limit: int = HEADLINE) -> str:
    """One line saying what went wrong (``expected ...; got ...`` or the first line), bounded."""
    from .baseline import summarize

    return summarize(message, limit=limit, empty="")


def check_label(label: str, where: str) -> str:
    """``label`` if it can name a vantage; :class:`ReportError` naming ``where`` otherwise."""
    if not LABEL.match(label or ""):
        shown = f" {label!r}" if len(label or "") <= 80 else ""
        raise ReportError(f"{where}{shown}: a vantage name is 1 to 64 letters, digits, '.', '_', '@' or '-', "
                          f"starting with a letter or digit")
    return label


def label_runs(inputs: list[tuple[str, list[Run]]], labels: list[str]) -> list[Run]:
    """The runs of every input, in order, with ``labels`` (one per input, if given) as their vantage
    names; names that repeat get ``-2``, ``-3``... so each column group is distinct."""
    if labels and len(labels) != len(inputs):
        raise ReportError(f"--label: {len(labels)} label(s) for {len(inputs)} report(s); give one per report, in order")
    runs: list[Run] = []
    for index, (path, found) in enumerate(inputs):
        if labels:
            if len(found) > 1:
                raise ReportError(f"--label {labels[index]}: {path} is a merged report of {len(found)} vantages; "
                                  f"a label names one run")
            found[0].vantage = check_label(labels[index], "--label")
        runs.extend(found)
    seen: dict[str, int] = {}
    for run in runs:
        base = run.vantage
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            name = f"{base}-{seen[base]}"
            while name in seen:
                seen[base] += 1
                name = f"{base}-{seen[base]}"
            seen[name] = 1
            run.vantage = name
    return runs


# --- merge -----------------------------------------------------------------------------------------


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _counts(verdicts: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(VERDICTS, 0)
    for verdict in verdicts:
        counts[verdict] += 1
    return counts


def merge(runs: list[Run], *, version: str = "") -> dict[str, Any]:
    """The merged document: one row per case, ``verdicts[vantage][target]`` (null: did not run there)."""
    case_order = list(dict.fromkeys(case for run in runs for case in run.cases))
    target_order = list(dict.fromkeys(target for run in runs for target in run.targets))
    rows = []
    for case_id in case_order:
        about = next((run.results[(t, case_id)] for run in runs for t in run.targets if (t, case_id) in run.results),
                     Result("pass"))
        verdicts = {run.vantage: {t: (run.results[(t, case_id)].verdict if (t, case_id) in run.results else None)
                                  for t in run.targets} for run in runs}
        rows.append({"case": case_id, "title": about.title, "level": about.level, "rfc": about.rfc,
                     "verdicts": verdicts})
    notes = [{"vantage": run.vantage, "target": t, "case": c, "verdict": result.verdict, "headline": result.headline}
             for run in runs for (t, c), result in _ordered(run, case_order) if result.verdict != "pass"]
    levels = list(dict.fromkeys(row["level"] for row in rows if row["level"]))
    return {
        "schema": MERGED_SCHEMA,
        "schema_version": MERGED_SCHEMA_VERSION,
        "generator": {"name": "pytest-wsgateway", "version": version},
        "created": _now(),
        "passed": all(run.passed is not False for run in runs)
                  and not any(note["verdict"] in FAILING for note in notes),
        "levels": levels,
        "verdicts": list(VERDICTS),
        "vantages": [{"name": run.vantage, "source": run.source, "created": run.created, "host": run.host,
                      "version": run.version, "exit_status": run.exit_status, "passed": run.passed}
                     for run in runs],
        "targets": [{"id": t, "urls": {run.vantage: run.targets[t] for run in runs if t in run.targets}}
                    for t in target_order],
        "summary": {
            "total": _counts([result.verdict for run in runs for result in run.results.values()]),
            "by_vantage": {run.vantage: {t: _counts([r.verdict for (tt, _), r in run.results.items() if tt == t])
                                         for t in run.targets} for run in runs},
        },
        "rows": rows,
        "notes": notes,
        "disagreements": disagreements(rows),
    }


def _ordered(run: Run, case_order: list[str]):
    position = {case: index for index, case in enumerate(case_order)}
    target_position = {target: index for index, target in enumerate(run.targets)}
    return sorted(run.results.items(), key=lambda item: (target_position.get(item[0][0], 0),
                                                         position.get(item[0][1], 0)))


def disagreements(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """(case, target) pairs whose verdict differs between vantages that ran them -- "passes from
    one region, fails from another" -- with the verdict per vantage."""
    found = []
    for row in rows:
        targets = list(dict.fromkeys(t for cells in row["verdicts"].values() for t in cells))
        for t in targets:
            seen = {vantage: cells[t] for vantage, cells in row["verdicts"].items() if cells.get(t) is not None}
            if len(set(seen.values())) > 1:
                found.append({"case": row["case"], "target": t, "verdicts": seen})
    return found


# --- diff ------------------------------------------------------------------------------------------


@dataclass
class Change:
    key: tuple[str, ...]  # (target, case) or (vantage, target, case)
    old: str | None  # verdict; None: not in that report
    new: str | None
    level: str = ""
    headline: str = ""

    @property
    def name(self) -> str:
        *vantage, target, case = self.key
        return f"{case}@{target}" + (f" (vantage {vantage[0]})" if vantage else "")


@dataclass
class Diff:
    new_failures: list[Change] = field(default_factory=list)
    fixed: list[Change] = field(default_factory=list)
    other: list[Change] = field(default_factory=list)
    compared: int = 0

    @property
    def regressed(self) -> bool:
        return bool(self.new_failures)


def diff(old: list[Run], new: list[Run]) -> Diff:
    """What changed from ``old`` to ``new``: new failures (now ``fail``/``error``, were not), fixed
    (were ``fail``/``error``/``known-failure``, now pass), and every other change of verdict.

    Two single runs are compared by (target, case), whatever their vantages are called; sets of
    several runs (merged reports) by (vantage, target, case).
    """
    by_vantage = len(old) > 1 or len(new) > 1
    if by_vantage and (len(old) == 1 or len(new) == 1):
        raise ReportError(f"cannot compare {len(old)} vantage(s) with {len(new)}: compare a merged report with a merged "
                          f"report, or one run with one run")
    before, after = _keyed(old, by_vantage), _keyed(new, by_vantage)
    result = Diff(compared=len(set(before) | set(after)))
    for key in list(dict.fromkeys([*after, *before])):
        was, now = before.get(key), after.get(key)
        old_verdict, new_verdict = (was.verdict if was else None), (now.verdict if now else None)
        if old_verdict == new_verdict:
            continue
        about = now or was
        change = Change(key, old_verdict, new_verdict, about.level, (now.headline if now else ""))
        if new_verdict in BROKEN and old_verdict not in BROKEN:
            result.new_failures.append(change)
        elif old_verdict in (*BROKEN, "known-failure") and new_verdict in ("pass", "unexpected-pass"):
            result.fixed.append(change)
        else:
            result.other.append(change)
    return result


def _keyed(runs: list[Run], by_vantage: bool) -> dict[tuple[str, ...], Result]:
    keyed: dict[tuple[str, ...], Result] = {}
    for run in runs:
        for (target, case), result in _ordered(run, run.cases):
            keyed[(run.vantage, target, case) if by_vantage else (target, case)] = result
    return keyed


def render_diff(found: Diff, old_name: str, new_name: str, *, limit: int = 50) -> str:
    """The diff as text: new failures first, then fixed, then other changes; each section shows at
    most ``limit`` lines (then how many more)."""
    lines = [f"wsgateway-report diff: {old_name} -> {new_name}: {found.compared} result(s) compared"]
    for title, changes in (("new failures", found.new_failures), ("fixed", found.fixed),
                           ("other changes", found.other)):
        if not changes:
            continue
        lines.append(f"{title} ({len(changes)}):")
        for change in changes[:limit]:
            text = f"  {change.name}: {change.old or 'absent'} -> {change.new or 'absent'}"
            if change.level:
                text += f" [{change.level}]"
            if change.headline and change.new != "pass":
                text += f": {change.headline}"
            lines.append(text)
        if len(changes) > limit:
            lines.append(f"  ... and {len(changes) - limit} more")
    verdict = "REGRESSED" if found.regressed else "no regression"
    lines.append(f"{verdict}: {len(found.new_failures)} new failure(s), {len(found.fixed)} fixed, "
                 f"{len(found.other)} other change(s)")
    return "\n".join(lines) + "\n"


# --- rendering the merged document -----------------------------------------------------------------


def render(document: dict[str, Any], extension: str) -> str:
    if extension == ".json":
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if extension == ".md":
        return render_markdown(document)
    if extension == ".html":
        return render_html(document)
    raise ValueError(f"unknown format {extension!r}")


def _columns(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(vantage, target) for every column of the matrix, vantage by vantage."""
    return [(vantage["name"], target["id"]) for vantage in document["vantages"] for target in document["targets"]
            if vantage["name"] in target["urls"]]


def _cell(text: Any) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
    return text or " "


def render_markdown(document: dict[str, Any]) -> str:
    from .reports import BADGES

    status = "PASSED" if document["passed"] else "FAILED"
    lines = ["# WebSocket gateway conformance: merged report", "",
             f"**{status}** · {len(document['vantages'])} vantage(s) · {len(document['targets'])} target(s) · "
             f"{document['created']} · merged schema version {document['schema_version']}", "",
             "## Vantages", "", "| Vantage | Report | Created | Host | Exit status | " + " | ".join(VERDICTS) + " |",
             "|---|---|---|---|---:|" + "---:|" * len(VERDICTS)]
    for vantage in document["vantages"]:
        counts = _counts([])
        for target_counts in document["summary"]["by_vantage"].get(vantage["name"], {}).values():
            for verdict in VERDICTS:
                counts[verdict] += target_counts.get(verdict, 0)
        lines.append(f"| {_cell(vantage['name'])} | {_cell(vantage['source'])} | {_cell(vantage['created'])} | "
                     f"{_cell(vantage['host'])} | {vantage['exit_status'] if vantage['exit_status'] is not None else ''} | "
                     + " | ".join(str(counts[v]) for v in VERDICTS) + " |")
    if document["disagreements"]:
        lines += ["", "## Vantages disagree", "", "| Case | Target | Verdicts |", "|---|---|---|"]
        for item in document["disagreements"]:
            lines.append(f"| `{_cell(item['case'])}` | {_cell(item['target'])} | "
                         + _cell(", ".join(f"{v}: {verdict}" for v, verdict in item["verdicts"].items())) + " |")
    failing = [note for note in document["notes"] if note["verdict"] in FAILING]
    if failing:
        lines += ["", "## Failures first", "", "| Verdict | Case | Target | Vantage | What went wrong |",
                  "|---|---|---|---|---|"]
        for note in failing:
            lines.append(f"| **{BADGES.get(note['verdict'], note['verdict'])}** | `{_cell(note['case'])}` | "
                         f"{_cell(note['target'])} | {_cell(note['vantage'])} | {_cell(note['headline'])} |")
    columns = _columns(document)
    lines += ["", "## Matrix", "", "| Case | Level | " + " | ".join(f"{_cell(v)} · {_cell(t)}" for v, t in columns) + " |",
              "|---|---|" + "---|" * len(columns)]
    for row in document["rows"]:
        cells = []
        for v, t in columns:
            verdict = row["verdicts"].get(v, {}).get(t)
            cells.append("n/a" if verdict is None else (f"**{verdict}**" if verdict in FAILING else verdict))
        lines.append(f"| `{_cell(row['case'])}` | {_cell(row['level'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def render_html(document: dict[str, Any]) -> str:
    import html

    from .reports import _CSS, BADGES

    e = html.escape

    def badge(verdict: str) -> str:
        return f'<span class="badge b-{e(verdict)}">{e(BADGES.get(verdict, verdict.upper()))}</span>'

    passed = document["passed"]
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           "<title>WebSocket gateway conformance: merged report</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
           "<h1>WebSocket gateway conformance: merged report</h1>",
           f'<p class="meta"><strong class="badge status b-{"pass" if passed else "fail"}" id="status">'
           f'{"✓ PASSED" if passed else "✗ FAILED"}</strong> {len(document["vantages"])} vantage(s) · '
           f'{len(document["targets"])} target(s) · {e(document["created"])} · merged schema version '
           f'{document["schema_version"]}</p>',
           "<h2>Vantages</h2>", '<table id="vantages">',
           "<tr><th>Vantage</th><th>Report</th><th>Created</th><th>Host</th><th>Exit status</th>"
           + "".join(f"<th>{badge(v)}</th>" for v in VERDICTS) + "</tr>"]
    for vantage in document["vantages"]:
        counts = _counts([])
        for target_counts in document["summary"]["by_vantage"].get(vantage["name"], {}).values():
            for verdict in VERDICTS:
                counts[verdict] += target_counts.get(verdict, 0)
        status = "" if vantage["exit_status"] is None else str(vantage["exit_status"])
        out.append(f'<tr data-vantage="{e(vantage["name"])}"><td><code>{e(vantage["name"])}</code></td>'
                   f'<td>{e(vantage["source"])}</td><td>{e(vantage["created"])}</td><td>{e(vantage["host"])}</td>'
                   f'<td class="n">{status}</td>'
                   + "".join(f'<td class="n{"" if counts[v] else " zero"}">{counts[v]}</td>' for v in VERDICTS) + "</tr>")
    out.append("</table>")
    if document["disagreements"]:
        out += ["<h2 id=\"disagreements\">Vantages disagree</h2>", '<table class="index">',
                "<tr><th>Case</th><th>Target</th><th>Verdicts</th></tr>"]
        for item in document["disagreements"]:
            out.append(f'<tr data-disagreement="{e(item["case"])}@{e(item["target"])}"><td><code>{e(item["case"])}</code>'
                       f'</td><td><code>{e(item["target"])}</code></td><td>'
                       + " ".join(f"<code>{e(v)}</code> {badge(verdict)}" for v, verdict in item["verdicts"].items())
                       + "</td></tr>")
        out.append("</table>")
    failing = [note for note in document["notes"] if note["verdict"] in FAILING]
    if failing:
        out += [f'<h2 id="failures">Failures first: {len(failing)} result(s) fail the gate</h2>', '<table class="index">',
                "<tr><th>Verdict</th><th>Case</th><th>Target</th><th>Vantage</th><th>What went wrong</th></tr>"]
        for note in failing:
            out.append(f'<tr data-case="{e(note["case"])}" data-failure="{e(note["case"])}@{e(note["target"])}" '
                       f'data-vantage="{e(note["vantage"])}">'
                       f'<td>{badge(note["verdict"])}</td><td><code>{e(note["case"])}</code></td>'
                       f'<td><code>{e(note["target"])}</code></td><td><code>{e(note["vantage"])}</code></td>'
                       f'<td class="what">{e(note["headline"])}</td></tr>')
        out.append("</table>")
    columns = _columns(document)
    groups = list(dict.fromkeys(v for v, _ in columns))
    out += ["<h2>Matrix</h2>", '<table id="matrix">',
            '<tr><th rowspan="2">Case</th><th rowspan="2">Level</th>'
            + "".join(f'<th colspan="{sum(1 for vv, _ in columns if vv == v)}"><code>{e(v)}</code></th>' for v in groups)
            + "</tr>", "<tr>" + "".join(f"<th><code>{e(t)}</code></th>" for _, t in columns) + "</tr>"]
    for row in document["rows"]:
        cells = []
        for v, t in columns:
            verdict = row["verdicts"].get(v, {}).get(t)
            if verdict is None:
                cells.append(f'<td data-vantage="{e(v)}" data-target="{e(t)}">n/a</td>')
            else:
                cells.append(f'<td class="cell-{e(verdict)}" data-vantage="{e(v)}" data-target="{e(t)}">'
                             f"{badge(verdict)}</td>")
        out.append(f'<tr data-case="{e(row["case"])}"><td><code>{e(row["case"])}</code></td><td>{e(row["level"])}</td>'
                   + "".join(cells) + "</tr>")
    out += ["</table>", "<h2>Targets</h2>", "<table id=\"targets\"><tr><th>Target</th><th>Vantage</th><th>URL</th></tr>"]
    for target in document["targets"]:
        for vantage, url in target["urls"].items():
            out.append(f"<tr><td><code>{e(target['id'])}</code></td><td><code>{e(vantage)}</code></td><td>{e(url)}</td></tr>")
    out += ["</table>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


__all__ = ["Diff", "MERGED_SCHEMA", "ReportError", "Run", "check_label", "diff", "label_runs", "merge", "parse_report",
           "read_report", "render", "render_diff"]
