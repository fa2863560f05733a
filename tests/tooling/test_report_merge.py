"""``wsgateway-report merge`` and ``diff`` on the JSON reports of real runs against the reference server.

Two runs of the same target (one server, its fault switched on for the second run: the 101 loses
``Upgrade``), each from its own "vantage" (``--gateway-vantage``), with a secret header that the
server reflects into its responses so that the failure transcripts carry it (redacted) -- then the
console script merges them into all three formats and diffs them both ways.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gate._helpers import FAULTY_CASES, PASSING_CASE, SELECTION, SUITE, HtmlReport, faulty_server
from tests.harness import ALIASES, target_id

SECRET = "tok-71c0e9a4d2b85f36"


def _script() -> str:
    found = Path(sys.executable).with_name("wsgateway-report")
    return str(found) if found.exists() else shutil.which("wsgateway-report") or "wsgateway-report"


def report_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_script(), *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def suite_run(folder: Path, *args: str) -> subprocess.CompletedProcess:
    folder.joinpath("pytest.ini").write_text("[pytest]\n")
    return subprocess.run([sys.executable, "-m", "pytest", *SUITE, "-c", "pytest.ini", "-q", *args], cwd=folder,
                          capture_output=True, text=True, timeout=180)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """old.json (every selected case passes, vantage eu-west) and new.json (the fault is on, vantage us-east)."""
    folder = tmp_path_factory.mktemp("runs")
    with faulty_server(fault=False, reflect="X-Api-Key") as server:
        common = (f"--gateway-url={server.url}", f"--gateway-header=X-Api-Key: {SECRET}", "-k", f"{SELECTION} or accept-")
        old = suite_run(folder, *common, "--gateway-vantage=eu-west", "--gateway-report=old.json")
        server.fault = True
        new = suite_run(folder, *common, "--gateway-vantage", "us-east", "--gateway-report=new.json")
    assert old.returncode == 0, old.stdout + old.stderr
    assert new.returncode == 1, new.stdout + new.stderr
    received = {value for headers in server.seen for name, value in headers if name.lower() == "x-api-key"}
    assert received == {SECRET}  # the secret was there to leak
    return folder, target_id(server.url)


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_run_report_records_its_vantage_and_host(runs):
    folder, _ = runs
    import platform

    assert load(folder / "old.json")["run"] == {"vantage": "eu-west", "host": platform.node()}
    assert load(folder / "new.json")["run"]["vantage"] == "us-east"


def test_merge_joins_two_runs_into_one_matrix_in_json_markdown_and_html(runs):
    folder, tid = runs
    for name in ("merged.json", "merged.md", "merged.html"):
        done = report_cli("merge", "old.json", "new.json", "-o", name, cwd=folder)
        assert done.returncode == 0, done.stderr
        assert done.stdout == f"wsgateway-report: merged 2 run(s) (eu-west, us-east) into {name}\n"
    merged = load(folder / "merged.json")
    assert merged["schema"] == "pytest-wsgateway-merged-report" and merged["schema_version"] == 1
    assert [v["name"] for v in merged["vantages"]] == ["eu-west", "us-east"]
    assert [(v["source"], v["exit_status"], v["passed"]) for v in merged["vantages"]] == [
        ("old.json", 0, True), ("new.json", 1, False)]
    assert merged["passed"] is False
    rows = {row["case"]: row["verdicts"] for row in merged["rows"]}
    old_cases = {case["id"]: case["verdict"] for case in load(folder / "old.json")["targets"][0]["cases"]}
    assert set(rows) == set(old_cases) and len(rows) > 5
    for case_id in FAULTY_CASES:
        assert rows[case_id] == {"eu-west": {tid: "pass"}, "us-east": {tid: "fail"}}
    assert rows[PASSING_CASE] == {"eu-west": {tid: "pass"}, "us-east": {tid: "pass"}}
    assert sorted(item["case"] for item in merged["disagreements"]) == sorted(
        case for case, cells in rows.items() if cells["eu-west"] != cells["us-east"])
    assert set(FAULTY_CASES) <= {item["case"] for item in merged["disagreements"]}
    failing = {(n["vantage"], n["case"]): n["headline"] for n in merged["notes"] if n["verdict"] == "fail"}
    assert set(FAULTY_CASES) <= {case for vantage, case in failing if vantage == "us-east"}
    assert "expected" in failing[("us-east", "upgrade-header-websocket")]

    markdown = (folder / "merged.md").read_text(encoding="utf-8")
    assert f"| Case | Level | eu-west · {tid} | us-east · {tid} |" in markdown
    assert "## Vantages disagree" in markdown and "## Failures first" in markdown
    assert "| `upgrade-header-websocket` | must | pass | **fail** |" in markdown

    page = HtmlReport((folder / "merged.html").read_text(encoding="utf-8"))
    assert not page.external and "script" not in page.tags
    failure_rows = [row for row in page.rows if "data-failure" in row]
    assert {row["data-vantage"] for row in failure_rows} == {"us-east"}
    assert {row["data-case"] for row in failure_rows} >= set(FAULTY_CASES)
    assert {row["data-case"] for row in page.rows if "data-failure" not in row} == set(rows)  # the matrix

    # the secret the server reflected is in no merged output (the run reports hold it redacted)
    for name in ("old.json", "new.json", "merged.json", "merged.md", "merged.html"):
        assert SECRET not in (folder / name).read_text(encoding="utf-8"), name
    assert "<redacted>" in (folder / "new.json").read_text(encoding="utf-8")


def test_merge_labels_override_the_vantage_and_repeated_names_are_told_apart(runs):
    folder, tid = runs
    done = report_cli("merge", "new.json", "new.json", "old.json", "-o", "twice.json", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert [v["name"] for v in load(folder / "twice.json")["vantages"]] == ["us-east", "us-east-2", "eu-west"]
    done = report_cli("merge", "old.json", "new.json", "--label", "before", "--label", "after", "-o", "l.json", cwd=folder)
    assert done.returncode == 0, done.stderr
    rows = {row["case"]: row["verdicts"] for row in load(folder / "l.json")["rows"]}
    assert rows["upgrade-header-websocket"] == {"before": {tid: "pass"}, "after": {tid: "fail"}}


def test_diff_lists_new_failures_first_and_exits_1(runs):
    folder, tid = runs
    done = report_cli("diff", "old.json", "new.json", cwd=folder)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("wsgateway-report diff: old.json -> new.json: ")
    assert lines[1].startswith("new failures (")
    failures = [line for line in lines[2:] if line.startswith("  ") and ": pass -> fail" in line]
    assert {line.split("@")[0].strip() for line in failures} >= set(FAULTY_CASES)
    assert f"  upgrade-header-websocket@{tid}: pass -> fail [must]: expected " in done.stdout
    assert lines[-1].startswith("REGRESSED: ")
    old = {c["id"]: c["verdict"] for c in load(folder / "old.json")["targets"][0]["cases"]}
    new = {c["id"]: c["verdict"] for c in load(folder / "new.json")["targets"][0]["cases"]}
    assert len(failures) == sum(1 for case in new if new[case] == "fail" and old[case] == "pass")
    assert SECRET not in done.stdout


def test_diff_the_other_way_is_fixed_and_exits_0(runs):
    folder, tid = runs
    done = report_cli("diff", "new.json", "old.json", cwd=folder)
    assert done.returncode == 0, done.stderr
    assert "new failures" not in done.stdout
    assert f"  upgrade-header-websocket@{tid}: fail -> pass [must]\n" in done.stdout
    assert done.stdout.splitlines()[1].startswith("fixed (")
    assert done.stdout.splitlines()[-1].startswith("no regression: 0 new failure(s), ")


def test_diff_of_a_run_with_itself_is_empty(runs):
    folder, _ = runs
    done = report_cli("diff", "new.json", "new.json", cwd=folder)
    assert done.returncode == 0
    assert done.stdout.splitlines()[1:] == ["no regression: 0 new failure(s), 0 fixed, 0 other change(s)"]


def test_diff_puts_passed_to_inconclusive_under_other_changes_without_failing(runs):
    folder, tid = runs
    document = load(folder / "old.json")
    case = next(c for c in document["targets"][0]["cases"] if c["id"] == PASSING_CASE)
    case.update(verdict="inconclusive", message="not run: the target refused the connection")
    (folder / "unreachable.json").write_text(json.dumps(document), encoding="utf-8")
    done = report_cli("diff", "old.json", "unreachable.json", cwd=folder)
    assert done.returncode == 0, done.stdout
    assert done.stdout.splitlines()[1:] == [
        "other changes (1):",
        f"  {PASSING_CASE}@{tid}: pass -> inconclusive [must]: not run: the target refused the connection",
        "no regression: 0 new failure(s), 0 fixed, 1 other change(s)"]


def test_diff_of_merged_reports_compares_per_vantage(runs):
    folder, tid = runs
    for name, order in (("a.json", ("old.json", "old.json")), ("b.json", ("old.json", "new.json"))):
        assert report_cli("merge", *order, "--label", "eu", "--label", "us", "-o", name, cwd=folder).returncode == 0
    done = report_cli("diff", "a.json", "b.json", cwd=folder)
    assert done.returncode == 1
    assert f"  upgrade-header-websocket@{tid} (vantage us): pass -> fail [must]: expected " in done.stdout
    assert "(vantage eu)" not in done.stdout
    mixed = report_cli("diff", "old.json", "b.json", cwd=folder)
    assert mixed.returncode == 4
    assert mixed.stderr.startswith("wsgateway-report: error: cannot compare 1 vantage(s) with 2")


def test_diff_output_is_bounded(runs):
    folder, _ = runs
    done = report_cli("diff", "old.json", "new.json", "--limit", "1", cwd=folder)
    assert done.returncode == 1
    section = done.stdout.splitlines()[1:4]
    assert section[0].startswith("new failures (") and section[2].startswith("  ... and ")


BOMB = ALIASES + "report: *h\n"


@pytest.mark.parametrize(("setup", "args", "message"), [
    (None, ("diff", "missing.json", "new.json"), "missing.json: No such file or directory"),
    ({"bomb.yaml": BOMB}, ("diff", "bomb.yaml", "new.json"), "bomb.yaml: not JSON ("),
    ({"other.json": '{"a": 1}'}, ("merge", "other.json", "-o", "m.html"),
     'other.json: not a pytest-wsgateway report (no "schema": "pytest-wsgateway-report")'),
    ({"v1.json": '{"schema": "pytest-wsgateway-report", "schema_version": 1, "targets": []}'},
     ("diff", "v1.json", "new.json"), "v1.json: report schema version 1 is not supported (supported: 2)"),
    ({"bad.json": '{"schema": "pytest-wsgateway-report", "schema_version": 2, "targets": [{"id": "t", "cases": '
                  '[{"id": "c", "verdict": "great"}]}]}'},
     ("diff", "new.json", "bad.json"), "bad.json: malformed report: targets[0].cases[0].verdict: expected one of pass"),
    ({"deep.json": "[" * 100_000 + "]" * 100_000}, ("diff", "deep.json", "new.json"), "deep.json: "),
    ({"bin.json": b"\xff\xfe{}"}, ("diff", "bin.json", "new.json"), "bin.json: not UTF-8 text"),
    (None, ("diff", ".", "new.json"), ".: Is a directory"),
    (None, ("merge", "old.json", "-o", "m.txt"), "-o m.txt: unknown format '.txt'; use a .html, .md or .json file name"),
    (None, ("merge", "old.json", "new.json", "--label", "x", "-o", "m.md"),
     "--label: 1 label(s) for 2 report(s); give one per report, in order"),
    (None, ("merge", "old.json", "--label", "bad name", "-o", "m.md"), "--label 'bad name': a vantage name is 1 to 64"),
    (None, ("merge", "old.json"), "the following arguments are required: -o/--output"),
    (None, ("diff", "old.json", "new.json", "--limit", "x"), "argument --limit: invalid int value: 'x'"),
    (None, (), "a command is required: merge or diff"),
    (None, ("frobnicate",), "argument {merge,diff}: invalid choice: 'frobnicate'"),
])
def test_bad_input_is_one_line_and_exit_4(runs, tmp_path, setup, args, message):
    folder, _ = runs
    for name in ("old.json", "new.json"):
        shutil.copy(folder / name, tmp_path / name)
    for name, content in (setup or {}).items():
        path = tmp_path / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    done = report_cli(*args, cwd=tmp_path)
    assert done.returncode == 4, done.stdout + done.stderr
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"wsgateway-report: error: {message}"), done.stderr
    assert not (tmp_path / "m.html").exists() and not (tmp_path / "m.md").exists()


def test_a_huge_file_is_refused_without_reading_it_all(tmp_path):
    from pytest_wsgateway.reportmerge import ReportError, read_report

    path = tmp_path / "huge.json"
    with open(path, "wb") as handle:  # sparse: 64 MiB on paper
        handle.truncate(64 << 20)
    done = report_cli("diff", "huge.json", "huge.json", cwd=tmp_path)
    assert done.returncode == 4
    assert done.stderr == "wsgateway-report: error: huge.json: larger than 32 MiB; not a pytest-wsgateway report\n"
    with pytest.raises(ReportError, match="larger than 1 MiB"):
        read_report(str(path), max_bytes=1 << 20)


def test_the_verdicts_agree_with_the_reports_module():
    from pytest_wsgateway import reportmerge, reports

    assert reportmerge.VERDICTS == reports.VERDICTS and reportmerge.FAILING == reports.FAILING
    assert reportmerge.RUN_SCHEMA == reports.SCHEMA_NAME and reports.SCHEMA_VERSION in reportmerge.RUN_SCHEMA_VERSIONS


def test_a_bad_vantage_is_a_usage_error(tmp_path):
    done = suite_run(tmp_path, "--gateway-report=r.json", "--gateway-vantage=eu west", "-k", "accept-fresh-key")
    assert done.returncode == 4
    assert "ERROR: --gateway-vantage 'eu west': a vantage name is 1 to 64 letters" in done.stderr
    assert not (tmp_path / "r.json").exists()
