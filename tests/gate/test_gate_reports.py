"""--gateway-report: the JSON (versioned schema), Markdown and self-contained HTML reports."""

from __future__ import annotations

import pytest

from tests.gate._helpers import FAULTY_CASES, PASSING_CASE, SELECTION, SUITE, HtmlReport, faulty_server, read_json
from tests.harness import target_id
from pytest_wsgateway.cases import load_catalogue
from pytest_wsgateway.reports import SCHEMA_VERSION, VERDICTS

CATALOGUE = {case.id: case for case in load_catalogue()}
CASE_KEYS = {"id", "title", "level", "rfc", "verdict", "duration", "message", "known_failure"}


def run(pytester, *args):
    return pytester.runpytest(*SUITE, *args)


def reports(*names):
    return [f"--gateway-report={name}" for name in names]


def check_counts(counts):
    assert list(counts) == list(VERDICTS)
    assert all(isinstance(value, int) and value >= 0 for value in counts.values())


def test_every_format_from_one_run_against_one_target(pytester):
    with faulty_server() as server:
        result = run(pytester, f"--gateway-url={server.url}", "-k", SELECTION,
                     *reports("out/r.json", "out/r.md", "out/nested/r.html"))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["wsgateway: report written to out/r.json", "wsgateway: report written to out/r.md",
                                 "wsgateway: report written to out/nested/r.html"])
    tid = target_id(server.url)

    document = read_json(pytester.path / "out" / "r.json")
    assert document["schema"] == "pytest-wsgateway-report"
    assert document["schema_version"] == SCHEMA_VERSION == 2
    assert document["exit_status"] == 1 and document["passed"] is False
    assert document["verdicts"] == list(VERDICTS)
    [target] = document["targets"]
    assert target["id"] == tid and target["url"] == server.url and target["passed"] is False
    cases = {case["id"]: case for case in target["cases"]}
    assert list(cases) == [case_id for case_id in CATALOGUE if case_id in cases]  # catalogue order
    assert set(cases) == {*FAULTY_CASES, PASSING_CASE}
    for case_id, case in cases.items():
        assert set(case) == CASE_KEYS
        catalogued = CATALOGUE[case_id]
        assert (case["title"], case["level"], case["rfc"]) == (catalogued.title, catalogued.level, catalogued.rfc)
        assert isinstance(case["duration"], float) and case["duration"] >= 0
        assert case["known_failure"] is None
    for case_id in FAULTY_CASES:
        assert cases[case_id]["verdict"] == "fail"
        assert "expected: Upgrade: websocket" in cases[case_id]["message"]
    assert cases[PASSING_CASE]["verdict"] == "pass" and cases[PASSING_CASE]["message"] == ""
    total, by_level = target["summary"]["total"], target["summary"]["by_level"]
    check_counts(total)
    assert (total["pass"], total["fail"]) == (1, 2)
    for level, counts in by_level.items():
        check_counts(counts)
        assert sum(counts.values()) == sum(1 for case in cases.values() if case["level"] == level)
    assert document["summary"]["total"] == total
    assert document["matrix"]["targets"] == [tid]
    assert {row["case"]: row["verdicts"] for row in document["matrix"]["rows"]} == {
        case_id: {tid: case["verdict"]} for case_id, case in cases.items()}

    markdown = (pytester.path / "out" / "r.md").read_text()
    assert markdown.startswith("# WebSocket gateway conformance report\n\n**FAILED** (exit status 1)")
    assert f"| {tid} | **all** | 1 | 2 | 0 | 0 | 0 | 0 |" in markdown
    assert "## Matrix" not in markdown  # one target: no matrix
    title = CATALOGUE[PASSING_CASE].title
    assert f"| `{PASSING_CASE}` | {title} | {CATALOGUE[PASSING_CASE].level} |" in markdown
    assert "#### `accept-rfc-vector` — fail\n\n```text\n[must] accept-rfc-vector:" in markdown

    page = HtmlReport((pytester.path / "out" / "nested" / "r.html").read_text())
    assert "script" not in page.tags and page.external == []  # self-contained, no JavaScript
    assert "style" in page.tags and "details" in page.tags
    assert {row["data-case"]: row["data-verdict"] for row in page.case_rows()} == {
        case_id: case["verdict"] for case_id, case in cases.items()}
    assert page.matrix_rows() == [] and "matrix" not in page.ids
    text = " ".join(page.text)
    assert "FAILED" in text and "expected: Upgrade: websocket" in text and CATALOGUE[PASSING_CASE].rfc in text


@pytest.mark.parametrize("trace", [("--full-trace",), ("--showlocals",), ("--tb=native",), ("--full-trace", "-n", "2")],
                         ids=["full-trace", "showlocals", "native", "full-trace-xdist"])
def test_a_cases_message_in_the_reports_is_its_explanation_whatever_the_traceback_style(pytester, trace):
    """--full-trace made pytest's text of a failed case a traceback with its variables
    ("cls = <class '_pytest.runner.CallInfo'>"), and the reports showed that instead of the case."""
    with faulty_server() as server:
        result = run(pytester, f"--gateway-url={server.url}", "-k", SELECTION, *trace, *reports("r.json"))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    [target] = read_json(pytester.path / "r.json")["targets"]
    for case in target["cases"]:
        if case["id"] in FAULTY_CASES:
            assert case["message"].startswith(f"[{CATALOGUE[case['id']].level}] {case['id']}: "), case["message"][:300]
            assert "expected: Upgrade: websocket" in case["message"] and "CallInfo" not in case["message"]


def test_several_targets_give_a_matrix(pytester):
    with faulty_server() as broken, faulty_server(fault=False) as fixed:
        result = run(pytester, f"--gateway-url={broken.url}", f"--gateway-url={fixed.url}", "-k", SELECTION,
                     *reports("r.json", "r.md", "r.html"))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    bad, good = target_id(broken.url), target_id(fixed.url)
    document = read_json(pytester.path / "r.json")
    assert [target["id"] for target in document["targets"]] == [bad, good]
    assert [target["passed"] for target in document["targets"]] == [False, True]
    assert document["matrix"]["targets"] == [bad, good]
    matrix = {row["case"]: row["verdicts"] for row in document["matrix"]["rows"]}
    assert matrix == {"accept-rfc-vector": {bad: "fail", good: "pass"},
                      "upgrade-header-websocket": {bad: "fail", good: "pass"},
                      PASSING_CASE: {bad: "pass", good: "pass"}}
    assert document["summary"]["total"]["pass"] == 4 and document["summary"]["total"]["fail"] == 2

    markdown = (pytester.path / "r.md").read_text()
    assert f"| Case | Level | {bad} | {good} |" in markdown
    assert f"| `accept-rfc-vector` | must | fail | pass |" in markdown
    assert markdown.count("## Target ") == 2

    page = HtmlReport((pytester.path / "r.html").read_text())
    assert "matrix" in page.ids
    assert [row["data-case"] for row in page.matrix_rows()] == list(matrix)
    assert len(page.case_rows()) == 6


def test_known_failures_unexpected_passes_and_skips_have_their_own_verdicts(pytester):
    pytester.path.joinpath("known.yaml").write_text(
        f"accept-rfc-vector: ticket GW-1\n{PASSING_CASE}: ticket GW-2\n")
    with faulty_server() as server:
        result = run(pytester, f"--gateway-url={server.url}", "-k", f"{SELECTION} or tunnel-echo-text",
                     "--gateway-known-failures=known.yaml", *reports("r.json", "r.html", "r.md"))
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the unexpected pass fails the gate
    [target] = read_json(pytester.path / "r.json")["targets"]
    cases = {case["id"]: case for case in target["cases"]}
    assert {case_id: case["verdict"] for case_id, case in cases.items()} == {
        "accept-rfc-vector": "known-failure", "upgrade-header-websocket": "fail",
        PASSING_CASE: "unexpected-pass", "tunnel-echo-text": "skip"}
    assert cases["accept-rfc-vector"]["known_failure"] == "ticket GW-1"
    assert "expected: Upgrade: websocket" in cases["accept-rfc-vector"]["message"]
    assert "remove it from the baseline" in cases[PASSING_CASE]["message"]
    assert "--gateway-echo" in cases["tunnel-echo-text"]["message"]
    assert target["summary"]["total"] == {"pass": 0, "fail": 1, "error": 0, "skip": 1,
                                          "known-failure": 1, "unexpected-pass": 1, "inconclusive": 0}
    page = HtmlReport((pytester.path / "r.html").read_text())
    assert {row["data-case"]: row["data-verdict"] for row in page.case_rows()}["tunnel-echo-text"] == "skip"
    assert "known failure: ticket GW-1" in " ".join(page.text)
    assert "(known failure: ticket GW-1)" in (pytester.path / "r.md").read_text()


def test_the_embedded_reference_server_is_reported_per_scheme(pytester):
    result = run(pytester, "-k", "accept-rfc-vector", "--gateway-report=r.json")
    assert result.ret == pytest.ExitCode.OK
    document = read_json(pytester.path / "r.json")
    assert [(t["id"], t["url"]) for t in document["targets"]] == [
        ("reference-ws", "embedded reference server (ws://)"), ("reference-wss", "embedded reference server (wss://)")]
    assert document["passed"] is True and document["exit_status"] == 0


def test_report_paths_from_the_environment(pytester, monkeypatch):
    monkeypatch.setenv("WSGATEWAY_REPORT", "env.json env.md")
    with faulty_server() as server:
        run(pytester, f"--gateway-url={server.url}", "-k", PASSING_CASE)
    assert read_json(pytester.path / "env.json")["passed"] is True
    assert (pytester.path / "env.md").read_text().startswith("# WebSocket gateway conformance report")


def test_messages_cannot_break_out_of_markdown_or_html(pytester):
    from pytest_wsgateway.reports import Result, build_document, render

    nasty = "<script>alert(1)</script> | pipe\n```\nfence"
    result = Result(case="c|1", target="t", title=nasty, level="must", rfc="RFC 6455 §4", verdict="fail",
                    message=nasty)
    document = build_document([result], [("t", "ws://h/")], 1)
    page = HtmlReport(render(document, ".html"))
    assert "script" not in page.tags and nasty.splitlines()[0] in " ".join(page.text)
    markdown = render(document, ".md")
    assert "| `c|1` |" not in markdown and "| `c\\|1` |" in markdown
    assert "<script>" not in markdown.split("```")[0]
    assert "````text\n" + nasty + "\n````" in markdown  # a longer fence than any in the message


@pytest.mark.parametrize("name", ["report.txt", "report", "report.JSONX"])
def test_an_unknown_report_format_is_a_usage_error(pytester, name):
    result = run(pytester, "--gateway-url=ws://gw.invalid/ws", f"--gateway-report={name}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.errlines if line.strip()] == [
        f"ERROR: --gateway-report {name}: unknown format "
        f"{repr(name[name.index('.'):].lower()) if '.' in name else repr('(no extension)')}; "
        f"use a .json, .md or .html file name"]


def _hex(colour):
    colour = colour.lstrip("#")
    if len(colour) == 3:
        colour = "".join(c * 2 for c in colour)
    return [int(colour[i:i + 2], 16) / 255 for i in (0, 2, 4)]


def _contrast(one, two):
    def luminance(colour):
        r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in _hex(colour))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    light, dark = sorted((luminance(one), luminance(two)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_html_puts_failures_first_by_family_linked_badged_and_full_width(pytester):
    import re

    from pytest_wsgateway.reports import BADGES, FAILING, anchor

    with faulty_server() as broken, faulty_server(fault=False) as fixed:
        result = run(pytester, f"--gateway-url={broken.url}", f"--gateway-url={fixed.url}", "-k",
                     f"{SELECTION} or accept-", *reports("r.json", "r.html", "r.md"))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    bad, good = target_id(broken.url), target_id(fixed.url)
    document = read_json(pytester.path / "r.json")
    failing = [(target["id"], case["id"]) for target in document["targets"] for case in target["cases"]
               if case["verdict"] in FAILING]
    assert {case_id.split("-")[0] for _, case_id in failing} == {"accept", "upgrade"} and len(failing) > 5
    source = (pytester.path / "r.html").read_text()
    page = HtmlReport(source)
    assert "script" not in page.tags and page.external == []  # still one self-contained file

    # failures come first: the index, grouped by family in catalogue order, before the matrix and
    # before any passing row
    first_pass = min(page.position(f"row:{row['data-case']}:pass") for row in page.case_rows()
                     if row["data-verdict"] == "pass")
    assert page.position("id:summary") < page.position("id:failures") < page.position("id:family-accept") \
        < page.position("id:family-upgrade") < page.position("id:matrix") < first_pass
    assert "family-reject" not in page.ids  # the reject- cases passed: no group
    # ... each linked from the index and from its matrix cell to its details, which exist
    for target, case_id in failing:
        assert anchor(target, case_id) in page.ids
        assert page.links.count(anchor(target, case_id)) == 3, (target, case_id)  # index, matrix, table row
    assert set(page.links) <= page.ids  # no dangling link
    assert page.position(f"id:{anchor(bad, 'upgrade-header-websocket')}") < first_pass

    # a verdict is a text badge in a strong colour, never colour alone
    text = " ".join(page.text)
    assert text.count(BADGES["fail"]) >= 2 * len(failing)  # index, matrix cell, details, the target's table
    for verdict in ("fail", "error", "unexpected-pass", "inconclusive", "pass"):
        rule = re.search(r"\.b-" + re.escape(verdict) + r"\{background:(#[0-9a-f]{3,6});color:(#[0-9a-f]{3,6})", source)
        assert rule, verdict
        background, foreground = rule.groups()
        assert _contrast(background, foreground) >= 4.5, verdict  # WCAG AA for the badge text
        assert _contrast(background, "#ffffff") >= 1.8, verdict  # and a colour that stands out on white

    # transcripts: full width (not in a table cell), monospaced, wrapping
    details = [(around, body) for around, body in page.pres if "[must] upgrade-header-websocket" in body]
    assert len(details) == 1  # the broken target's; shown once
    around, body = details[0]
    assert "td" not in around and "table" not in around and "article" in around
    assert "--- request ---" in body and "--- response ---" in body
    assert re.search(r"pre\{[^}]*white-space:pre-wrap", source)
    assert re.search(r"(code,pre|pre)\{[^}]*font-family:[^}]*monospace", source)
    # the one-line summary is whole: "expected ...; got ..." as the message says it
    assert "expected Upgrade: websocket; got no Upgrade header" in page.text

    # passing rows come after, collapsed
    for row in page.case_rows():
        assert (row["_closed_details"] == "True") == (row["data-verdict"] == "pass"), row
    assert len(page.case_rows()) == len(document["targets"][0]["cases"]) + len(document["targets"][1]["cases"])
    assert f"target-{good}" in page.ids and f"passing-{good}" in page.ids

    # Markdown: failures first as well
    markdown = (pytester.path / "r.md").read_text()
    assert markdown.index("## Failures first") < markdown.index("## Matrix") < markdown.index("## Target ")
    assert markdown.index("### Family `accept`") < markdown.index("### Family `upgrade`")
    assert "### Family `reject`" not in markdown
    assert (f"| **{BADGES['fail']}** | `upgrade-header-websocket` | {bad} | must | "
            f"expected Upgrade: websocket; got no Upgrade header |") in markdown
    table = markdown[markdown.index(f"## Target `{bad}`"):markdown.index(f"## Target `{good}`")]
    assert table.index("`upgrade-header-websocket`") < table.index(f"`{PASSING_CASE}`")  # failing rows first


def test_the_summary_line_is_never_cut_mid_word():
    from pytest_wsgateway.reports import headline

    words = " ".join(f"word{i}" for i in range(200))
    line = headline(f"[must] case-id: {words}\nmore")
    assert line.endswith(" …") and len(line) <= 302
    assert f"[must] case-id: {words}".startswith(line[:-2]) and line[:-2].split()[-1] in words.split()
    assert headline("x\n  expected: Upgrade: websocket\n  actual:   no Upgrade header\n") == \
        "expected Upgrade: websocket; got no Upgrade header"
    assert headline("short\nsecond") == "short"


def test_a_failing_test_that_is_not_a_case_is_in_every_report(pytester):
    """A run that fails for a test outside the catalogue (origin-policy, browser-probe, a project's own
    test) says which in the reports: before, the JSON said exit status 1 with no failure anywhere."""
    pytester.makepyfile(test_extra="""
        import pytest

        @pytest.fixture
        def broken():
            raise RuntimeError("fixture broke, token s3cr3t-header-value")

        def test_setup_breaks(broken):
            pass

        def test_call_fails():
            assert 1 == 2
    """)
    result = run(pytester, "test_extra.py", "-k", "accept-rfc-vector or test_setup_breaks or test_call_fails",
                 "--gateway-header=X-Api-Key: s3cr3t-header-value", *reports("r.json", "r.md", "r.html"))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    document = read_json(pytester.path / "r.json")
    assert document["summary"]["total"]["fail"] == document["summary"]["total"]["error"] == 0  # the cases pass
    others = {other["test"]: other for other in document["other_failures"]}
    assert set(others) == {"test_extra.py::test_setup_breaks", "test_extra.py::test_call_fails"}
    assert (others["test_extra.py::test_setup_breaks"]["verdict"], others["test_extra.py::test_setup_breaks"]["phase"]) == (
        "error", "setup")
    assert others["test_extra.py::test_call_fails"]["verdict"] == "fail"
    assert "RuntimeError" in others["test_extra.py::test_setup_breaks"]["message"]
    for name in ("r.json", "r.md", "r.html"):
        text = (pytester.path / name).read_text()
        assert "s3cr3t-header-value" not in text
        assert "test_setup_breaks" in text and "test_call_fails" in text
    assert "## Other tests that failed" in (pytester.path / "r.md").read_text()
    assert 'id="other-failures"' in (pytester.path / "r.html").read_text()
