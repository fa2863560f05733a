"""pytest-xdist: -n works, reports and the baseline are merged on the controller, strict xfails hold."""

from __future__ import annotations

import pytest
import yaml

from tests.gate._helpers import FAULTY_CASES, PASSING_CASE, SELECTION, SUITE, faulty_server, read_json
from tests.harness import target_id


def run(pytester, *args):
    return pytester.runpytest_subprocess(*SUITE, *args, timeout=180)


def verdicts(document):
    return [(target["id"], case["id"], case["verdict"], case["known_failure"])
            for target in document["targets"] for case in target["cases"]]


def test_workers_give_the_same_report_and_baseline_as_one_process(pytester):
    with faulty_server() as broken, faulty_server(fault=False) as fixed:
        common = [f"--gateway-url={broken.url}", f"--gateway-url={fixed.url}", "-k", f"{SELECTION} or accept-"]
        serial = run(pytester, *common, "--gateway-report=serial.json", "--gateway-write-baseline=serial.yaml")
        parallel = run(pytester, *common, "-n", "3", "--gateway-report=parallel.json",
                       "--gateway-write-baseline=parallel.yaml")
        assert serial.ret == parallel.ret == pytest.ExitCode.TESTS_FAILED
        parallel.stdout.fnmatch_lines(["*3 workers*"])
        one, many = read_json(pytester.path / "serial.json"), read_json(pytester.path / "parallel.json")
        assert verdicts(many) == verdicts(one) and len(verdicts(one)) > 10
        assert many["matrix"] == one["matrix"] and many["summary"] == one["summary"]
        baseline = pytester.path.joinpath("serial.yaml").read_text()
        assert pytester.path.joinpath("parallel.yaml").read_text() == baseline
        assert yaml.safe_load(baseline)

        # The baseline written under xdist gates a parallel run: strict xfails on the workers.
        green = run(pytester, *common, "-n", "3", "--gateway-known-failures=parallel.yaml", "--gateway-report=green.json")
        assert green.ret == pytest.ExitCode.OK
        counts = read_json(pytester.path / "green.json")["summary"]["total"]
        assert counts["fail"] == 0 and counts["known-failure"] == len(yaml.safe_load(baseline))


def test_n_auto_runs_one_reference_server_per_worker(pytester):
    result = run(pytester, "-n", "auto", "-k", "accept- or upgrade-status-101", "--gateway-report=r.json")
    assert result.ret == pytest.ExitCode.OK
    document = read_json(pytester.path / "r.json")
    assert [target["id"] for target in document["targets"]] == ["reference-ws", "reference-wss"]
    assert all(target["passed"] for target in document["targets"])
    assert document["summary"]["total"]["pass"] == len(verdicts(document)) > 4


PLAIN_FAILURE = """
import pytest

def test_plain_failure(request):
    request.node.user_properties.extend([("wsgateway_case", "accept-fresh-key"), ("wsgateway_target", "local")])
    pytest.fail("a plain failure message, no expected/actual lines", pytrace=False)
"""


def test_worker_lines_stay_out_of_report_messages_and_baseline_reasons(pytester):
    # xdist prints "[gw0] linux -- Python 3.x /path/python" above a worker's failure; the
    # recorder stores the failure itself: messages start with the suite's own first line.
    pytester.makepyfile(test_plain=PLAIN_FAILURE)
    pytester.path.joinpath("known.yaml").write_text(f"{PASSING_CASE}: ticket GW-2\n")
    with faulty_server() as server:
        result = run(pytester, "test_plain.py", f"--gateway-url={server.url}", "-n", "2", "-k",
                     f"{SELECTION} or test_plain", "--gateway-known-failures=known.yaml",
                     "--gateway-report=r.json", "--gateway-report=r.md", "--gateway-report=r.html",
                     "--gateway-write-baseline=new.yaml")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*2 workers*"])
    document = read_json(pytester.path / "r.json")
    cases = {(target["id"], case["id"]): case for target in document["targets"] for case in target["cases"]}
    tid = target_id(server.url)
    for case_id in FAULTY_CASES:
        assert cases[(tid, case_id)]["verdict"] == "fail"
        assert cases[(tid, case_id)]["message"].startswith(f"[must] {case_id}: ")
    # a strict XPASS is recognised through the worker line, too
    assert cases[(tid, PASSING_CASE)]["verdict"] == "unexpected-pass"
    assert cases[(tid, PASSING_CASE)]["message"].startswith("known failure now passes")
    assert cases[("local", "accept-fresh-key")]["message"] == "a plain failure message, no expected/actual lines"
    for name in ("r.json", "r.md", "r.html", "new.yaml"):
        text = pytester.path.joinpath(name).read_text()
        assert "[gw" not in text and " -- Python " not in text, name
    baseline = yaml.safe_load(pytester.path.joinpath("new.yaml").read_text())
    assert baseline["accept-fresh-key"] == "a plain failure message, no expected/actual lines"  # its only target
