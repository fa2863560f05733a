"""--gateway-known-failures / --gateway-write-baseline: strict xfails and the baseline round trip."""

from __future__ import annotations

import pytest
import yaml

from tests.gate._helpers import FAULTY_CASES, PASSING_CASE, SELECTION, SUITE, faulty_server
from tests.harness import target_id
from pytest_wsgateway import baseline


def run(pytester, *args):
    return pytester.runpytest(*SUITE, *args)


def test_round_trip_write_rerun_green_then_stale_entry_fails(pytester):
    with faulty_server() as server:
        url = f"--gateway-url={server.url}"
        first = run(pytester, url, "-k", SELECTION, "--gateway-write-baseline=ci/known.yaml")
        first.assert_outcomes(failed=2, passed=1)
        assert first.ret == pytest.ExitCode.TESTS_FAILED
        written = yaml.safe_load((pytester.path / "ci" / "known.yaml").read_text())
        assert set(written) == set(FAULTY_CASES)
        assert written["accept-rfc-vector"] == "expected Upgrade: websocket; got no Upgrade header"
        first.stdout.fnmatch_lines(["wsgateway: baseline of 2 known failure(s) written to ci/known.yaml"])

        second = run(pytester, url, "-k", SELECTION, "--gateway-known-failures=ci/known.yaml", "-rx")
        second.assert_outcomes(xfailed=2, passed=1)
        assert second.ret == pytest.ExitCode.OK
        second.stdout.fnmatch_lines(["XFAIL*accept-rfc-vector*known failure (ci/known.yaml): expected Upgrade*"])

        server.fault = False  # the gateway got fixed: the baseline entries are now stale
        third = run(pytester, url, "-k", SELECTION, "--gateway-known-failures=ci/known.yaml")
        third.assert_outcomes(failed=2, passed=1)
        assert third.ret == pytest.ExitCode.TESTS_FAILED
        third.stdout.fnmatch_lines(["*XPASS(strict)*known failure (ci/known.yaml)*"])

        # Refresh the baseline in place: the fixed cases drop out, and the next run is green.
        refresh = run(pytester, url, "-k", SELECTION, "--gateway-known-failures=ci/known.yaml",
                      "--gateway-write-baseline=ci/known.yaml")
        assert refresh.ret == pytest.ExitCode.TESTS_FAILED
        assert (yaml.safe_load((pytester.path / "ci" / "known.yaml").read_text()) or {}) == {}
        fourth = run(pytester, url, "-k", SELECTION, "--gateway-known-failures=ci/known.yaml")
        fourth.assert_outcomes(passed=3)
        assert fourth.ret == pytest.ExitCode.OK


def test_rewriting_keeps_the_reasons_of_entries_that_still_fail(pytester):
    pytester.path.joinpath("known.yaml").write_text("accept-rfc-vector: ticket GW-17, fixed in 2.4\n")
    with faulty_server() as server:
        result = run(pytester, f"--gateway-url={server.url}", "-k", SELECTION,
                     "--gateway-known-failures=known.yaml", "--gateway-write-baseline=new.yaml")
    result.assert_outcomes(failed=1, xfailed=1, passed=1)
    written = yaml.safe_load(pytester.path.joinpath("new.yaml").read_text())
    assert written == {"accept-rfc-vector": "ticket GW-17, fixed in 2.4",
                       "upgrade-header-websocket": "expected Upgrade: websocket; got no Upgrade header"}


def test_entries_can_name_targets_and_other_targets_are_not_excused(pytester):
    with faulty_server() as server, faulty_server(fault=False) as fixed:
        faulty, good = target_id(server.url), target_id(fixed.url)
        pytester.path.joinpath("known.yaml").write_text(yaml.safe_dump({
            "accept-rfc-vector": {faulty: "the faulty one", "ws-gw.example.com/ws": "a gateway not under test"},
            "upgrade-header-websocket": {"ws-gw.example.com/ws": "only that other gateway"},
        }))
        result = run(pytester, f"--gateway-url={server.url}", f"--gateway-url={fixed.url}", "-k", SELECTION,
                     "--gateway-known-failures=known.yaml", "-rfx")
    # faulty: accept-rfc-vector xfails, upgrade-header-websocket fails; fixed: everything passes.
    result.assert_outcomes(xfailed=1, failed=1, passed=4)
    result.stdout.fnmatch_lines([f"FAILED*upgrade-header-websocket@{faulty}*"])
    assert f"accept-rfc-vector@{good}" not in result.stdout.str().split("short test summary")[-1]


def test_a_baseline_from_the_environment(pytester, monkeypatch):
    pytester.path.joinpath("env.yaml").write_text("accept-rfc-vector: from the environment\n")
    monkeypatch.setenv("WSGATEWAY_KNOWN_FAILURES", str(pytester.path / "env.yaml"))
    with faulty_server() as server:
        result = run(pytester, f"--gateway-url={server.url}", "-k", "accept-rfc-vector")
    result.assert_outcomes(xfailed=1)
    assert result.ret == pytest.ExitCode.OK


FLAG = "--gateway-known-failures known.yaml"


@pytest.mark.parametrize(("content", "line"), [
    ("no-such-case: typo\n", f"{FLAG}: unknown case id 'no-such-case' (not in the catalogue)"),
    ("accept-rfc-vector: [a, b]\n", f"{FLAG}: accept-rfc-vector: expected a reason or a mapping of target id -> reason"),
    ("- accept-rfc-vector\n", f"{FLAG}: expected a mapping of case id -> reason, not a list"),
    ("accept-rfc-vector: {x: [1]}\n", f"{FLAG}: accept-rfc-vector: expected target id -> reason text"),
    ("a: b: c\n", f"{FLAG}: not valid YAML (line 1)"),
])
def test_a_bad_baseline_is_one_usage_error_line(pytester, content, line):
    pytester.path.joinpath("known.yaml").write_text(content)
    result = run(pytester, "--gateway-url=ws://gw.invalid/ws", "--gateway-known-failures=known.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [text for text in result.errlines if text.strip()] == [f"ERROR: {line}"]


def test_a_missing_baseline_file_is_a_usage_error(pytester):
    result = run(pytester, "--gateway-known-failures=missing.yaml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --gateway-known-failures missing.yaml: no such file"])


def test_an_empty_baseline_excuses_nothing(pytester):
    pytester.path.joinpath("known.yaml").write_text("# nothing known\n")
    with faulty_server() as server:
        result = run(pytester, f"--gateway-url={server.url}", "-k", "accept-rfc-vector",
                     "--gateway-known-failures=known.yaml")
    result.assert_outcomes(failed=1)


# --- the file format, without pytest runs ---------------------------------------------------------


def test_dump_then_load_gives_the_same_reasons(tmp_path):
    failures = {"b-case": {"t1": "why: b", "t2": "why: b"}, "a-case": {"t1": "only here"}, "c-case": {"t1": "x", "t2": "y"}}
    ran = {"a-case": {"t1", "t2"}, "b-case": {"t1", "t2"}, "c-case": {"t1", "t2"}}
    text = baseline.dump(failures, ran, order=["c-case", "b-case", "a-case"])
    assert text.startswith(baseline.HEADER)
    data = yaml.safe_load(text)
    assert list(data) == ["c-case", "b-case", "a-case"]  # catalogue order
    assert data["b-case"] == "why: b"  # failed everywhere it ran, one reason
    assert data["a-case"] == {"t1": "only here"}
    assert data["c-case"] == {"t1": "x", "t2": "y"}
    path = tmp_path / "b.yaml"
    baseline.write(str(path), text)
    loaded = baseline.load(str(path), {"a-case", "b-case", "c-case"})
    for case_id, per_target in failures.items():
        for target, reason in per_target.items():
            assert loaded.reason(case_id, target) == reason
    assert loaded.reason("a-case", "t2") is None
    assert loaded.reason("d-case", "t1") is None


def test_summarize_takes_the_first_expectation_or_the_first_line():
    message = "[must] x: title\ntarget: ws://h/\nrequirement: r\n  expected: A\n  actual:   B\nrequirement: r2\n  expected: C\n  actual: D"
    assert baseline.summarize(message) == "expected A; got B"
    assert baseline.summarize("[must] x @ ws://h/: connection refused\nmore") == "[must] x @ ws://h/: connection refused"
    assert len(baseline.summarize("x" * 500)) == 200
