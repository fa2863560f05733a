"""Distributed runs on pytest-xdist's execnet transports (``--tx``), on loopback.

* ``--tx 2*popen`` and ``--tx popen --tx socket=HOST:PORT`` (a worker in a process started by
  execnet's own ``socketserver`` script, reached over TCP as a remote host would be) give the
  verdicts of a serial run;
* ``--dist loadgroup``: the plugin marks each item ``xdist_group(<target id>)`` so that a target's
  cases share a worker (one canary, one rate cap);
* ``--dist each``: every worker runs the whole selection as its own vantage point; the gate's
  report keeps what fails from any of them, and one JSON report per vantage feeds
  ``wsgateway-report merge``.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
from importlib.metadata import version

import pytest

from tests.gate._helpers import FAULTY_CASES, SELECTION, SUITE, faulty_server, read_json
from tests.harness import reference_server, target_id

from pytest_wsgateway.reference_server import ServerConfig
from pytest_wsgateway.reference_server.faults import Fault

COMMON = ("-p", "no:cacheprovider", "-k", f"{SELECTION} or accept-")


def run(pytester, *args):
    return pytester.runpytest_subprocess(*SUITE, *args, timeout=180)


def verdicts(document):
    return sorted((target["id"], case["id"], case["verdict"]) for target in document["targets"] for case in target["cases"])


def worker_of_each_item(stdout: str) -> dict[str, str]:
    """``-v`` lines ``[gw1] [ 50%] PASSED path::test[case@target]``: item -> worker."""
    found = {}
    for line in stdout.splitlines():
        match = re.match(r"\[(gw\d+)\] \[\s*\d+%\] [A-Z]+ \S+\[([^\]]+)\]", line)
        if match:
            found[match.group(2)] = match.group(1)
    return found


@contextlib.contextmanager
def socket_worker_host(folder):
    """execnet's socketserver (``python -m execnet.script.socketserver 127.0.0.1:0``) in ``folder``:
    the address it listens on. Stopped (this process only) when the block ends."""
    server = subprocess.Popen([sys.executable, "-u", "-m", "execnet.script.socketserver", "127.0.0.1:0"], cwd=folder,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = server.stdout.readline()  # "socket_readline_exec_server-1.2 Entering Accept loop ('127.0.0.1', 40507)"
        match = re.search(r"\('127\.0\.0\.1', (\d+)\)", line)
        assert match, line
        yield f"127.0.0.1:{match.group(1)}"
    finally:
        server.kill()
        server.wait(timeout=10)
        server.stdout.close()


def test_two_popen_workers_give_the_verdicts_of_a_serial_run(pytester):
    with faulty_server() as broken, faulty_server(fault=False) as fixed:
        urls = (f"--gateway-url={broken.url}", f"--gateway-url={fixed.url}")
        serial = run(pytester, *urls, *COMMON, "--gateway-report=serial.json")
        spread = run(pytester, *urls, *COMMON, "--dist", "load", "--tx", "2*popen", "-v", "--gateway-report=tx.json")
    assert serial.ret == spread.ret == pytest.ExitCode.TESTS_FAILED
    spread.stdout.fnmatch_lines(["*2 workers*"])
    assert set(worker_of_each_item(spread.stdout.str()).values()) == {"gw0", "gw1"}
    one, two = read_json(pytester.path / "serial.json"), read_json(pytester.path / "tx.json")
    assert verdicts(two) == verdicts(one) and len(verdicts(one)) > 10
    assert {case for _, case, verdict in verdicts(one) if verdict == "fail"} >= set(FAULTY_CASES)


def test_a_socket_worker_gives_the_verdicts_of_a_serial_run(pytester):
    # xdist copies pytest into the remote's working folder (pyexecnetcache) and runs the worker
    # there, with the Python that runs the socket server: the plugin must be installed in it.
    # Arguments that name existing files must lie under that copy, so none are given here.
    remote = pytester.mkdir("remote-host")
    with faulty_server() as broken, socket_worker_host(remote) as address:
        serial = run(pytester, f"--gateway-url={broken.url}", *COMMON, "--gateway-report=serial.json")
        spread = run(pytester, f"--gateway-url={broken.url}", *COMMON, "--dist", "load", "--tx", "popen",
                     "--tx", f"socket={address}", "-v", "--gateway-report=tx.json")
    assert serial.ret == spread.ret == pytest.ExitCode.TESTS_FAILED, spread.stdout.str()[-2000:]
    spread.stdout.fnmatch_lines(["*2 workers*"])
    workers = worker_of_each_item(spread.stdout.str())
    assert "gw1" in workers.values()  # the socket worker ran cases
    assert (remote / "pyexecnetcache").is_dir()  # ... in the socket server's process
    assert verdicts(read_json(pytester.path / "tx.json")) == verdicts(read_json(pytester.path / "serial.json"))


def test_loadgroup_marks_every_item_with_its_target(pytester):
    items, _ = pytester.inline_genitems(*SUITE, "--gateway-url=ws://127.0.0.1:1/a", "--gateway-url=ws://127.0.0.1:2/b",
                                        "--dist", "loadgroup", "--tx", "popen", "-k", "accept-")
    groups = {item.callspec.id: [mark.args for mark in item.iter_markers("xdist_group")] for item in items
              if "wsgateway_case" in item.callspec.params}  # (the browser cases are not per case x target)
    assert len(groups) > 4
    for item_id, marks in groups.items():
        assert marks == [(item_id.split("@", 1)[1],)], item_id
    plain, _ = pytester.inline_genitems(*SUITE, "--gateway-url=ws://127.0.0.1:1/a", "--dist", "load", "--tx", "popen",
                                        "-k", "accept-")
    assert plain and not any(item.get_closest_marker("xdist_group") for item in plain)


def _loadgroup_broken() -> bool:
    """pytest 9.2 made node ids structured; pytest-xdist up to 3.8.0 still writes the old ``_nodeid``
    field, so --dist loadgroup silently stops grouping (pytest-xdist#1386, fix proposed in #1388)."""
    def numbers(text: str) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", text)[:3])

    return numbers(version("pytest")) >= (9, 2) and numbers(version("pytest-xdist")) <= (3, 8, 0)


@pytest.mark.xfail(_loadgroup_broken(), strict=True,
                   reason="pytest-xdist#1386: loadgroup ignores xdist_group marks with pytest >= 9.2")
def test_loadgroup_runs_a_targets_cases_on_one_worker(pytester):
    with faulty_server() as broken, faulty_server(fault=False) as fixed:
        urls = (f"--gateway-url={broken.url}", f"--gateway-url={fixed.url}")
        result = run(pytester, *urls, *COMMON, "--dist", "loadgroup", "--tx", "2*popen", "-v")
    workers = worker_of_each_item(result.stdout.str())
    by_target: dict[str, set[str]] = {}
    for item_id, worker in workers.items():
        by_target.setdefault(item_id.split("@", 1)[1], set()).add(worker)
    assert len(by_target) == 2 and all(len(found) == 1 for found in by_target.values()), by_target


def test_dist_each_makes_every_worker_a_vantage_point_for_merge(pytester):
    # The server breaks the 101 (no Upgrade) only for requests that say X-Region: region-us-2,
    # which one worker sends (its own environment, set by its --tx spec): the same target
    # passes from one vantage point and fails from the other.
    def respond(request, response):
        if request is not None and request.get("X-Region") == "region-us-2" and response.status == 101:
            return response.without_header("Upgrade")
        return response

    fault = Fault(name="region", doc="fails for one region", seen="", respond=respond)
    with reference_server(ServerConfig(schemes=("ws",), fault=fault)) as server:
        url = server.urls["ws"]
        result = run(pytester, f"--gateway-url={url}", *COMMON, "--dist", "each", "--gateway-vantage=ci",
                     "--tx", "popen//env:WSGATEWAY_HEADER_X_REGION=region-eu-1",
                     "--tx", "popen//env:WSGATEWAY_HEADER_X_REGION=region-us-2",
                     "--gateway-report=r.json", "--gateway-report=r.html")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*vantage ci-gw0: report written to r.ci-gw0.json",
                                 "*vantage ci-gw1: report written to r.ci-gw1.json", "*report written to r.json"])
    tid = target_id(url)
    eu, us = read_json(pytester.path / "r.ci-gw0.json"), read_json(pytester.path / "r.ci-gw1.json")
    assert eu["run"]["vantage"] == "ci-gw0" and us["run"]["vantage"] == "ci-gw1"
    assert eu["passed"] and not us["passed"]
    failing = {case for _, case, verdict in verdicts(us) if verdict == "fail"}
    assert failing >= set(FAULTY_CASES) and not {case for _, case, v in verdicts(eu) if v != "pass"}
    # the gate's own report: what fails from any vantage point, and from which
    gate = {case["id"]: case for case in read_json(pytester.path / "r.json")["targets"][0]["cases"]}
    assert {case_id for case_id, case in gate.items() if case["verdict"] == "fail"} == failing
    assert all(gate[case_id]["message"].startswith("[vantage ci-gw1] [") for case_id in failing)
    for name in ("r.json", "r.html", "r.ci-gw0.json", "r.ci-gw1.json"):  # a header value: redacted everywhere
        text = (pytester.path / name).read_text()
        assert "region-us-2" not in text and "region-eu-1" not in text, name

    merged = subprocess.run([sys.executable, "-m", "pytest_wsgateway.report_cli", "merge", "r.ci-gw0.json",
                             "r.ci-gw1.json", "-o", "all.json"], cwd=pytester.path, capture_output=True, text=True,
                            timeout=60)
    assert merged.returncode == 0, merged.stderr
    document = json.loads((pytester.path / "all.json").read_text())
    assert {(item["case"], item["target"]) for item in document["disagreements"]} == {(c, tid) for c in failing}
    changed = subprocess.run([sys.executable, "-m", "pytest_wsgateway.report_cli", "diff", "r.ci-gw0.json",
                              "r.ci-gw1.json"], cwd=pytester.path, capture_output=True, text=True, timeout=60)
    assert changed.returncode == 1 and f"new failures ({len(failing)}):" in changed.stdout


def test_reports_work_without_xdist(pytester):
    # the report writer implements one of xdist's hooks (a worker's host for --dist each): without
    # xdist that hook has no specification, which pytest accepts only for an optional hook
    result = run(pytester, "-p", "no:xdist", "-p", "no:cacheprovider", "-k", "accept-rfc-vector",
                 "--gateway-report=r.json", "--gateway-vantage=solo")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-1500:] + result.stderr.str()[-1500:]
    document = read_json(pytester.path / "r.json")
    assert document["run"]["vantage"] == "solo" and document["summary"]["total"]["pass"] == 2


def test_the_console_script_runs_socket_workers(pytester):
    # wsgateway-conformance pins the suite's suite.ini; given as "-c PATH" xdist stopped with
    # "INTERNALERROR ... not relative to an rsync root" for any remote (socket, ssh) worker
    from pathlib import Path

    script = Path(sys.executable).with_name("wsgateway-conformance")
    remote = pytester.mkdir("remote-host")
    with faulty_server() as broken, socket_worker_host(remote) as address:
        done = subprocess.run([str(script), broken.url, "-p", "no:cacheprovider", "-k", SELECTION, "--dist", "load",
                               "--tx", "popen", "--tx", f"socket={address}", "--gateway-report=r.json"],
                              cwd=pytester.path, capture_output=True, text=True, timeout=180)
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout[-2000:] + done.stderr[-2000:]
    assert "INTERNALERROR" not in done.stdout + done.stderr and "2 workers" in done.stdout
    failing = {case for _, case, verdict in verdicts(read_json(pytester.path / "r.json")) if verdict == "fail"}
    assert failing == set(FAULTY_CASES)
