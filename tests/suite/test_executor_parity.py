"""The concurrent engine gives the verdicts of one-exchange-at-a-time, on every fault profile, and
through pytest with xdist (``-n 2``)."""

from __future__ import annotations

import pytest

from pytest_wsgateway.apidef import load_api
from pytest_wsgateway.cases import shipped_catalogue
from pytest_wsgateway.executor import ConcurrentExecutor, SerialExecutor
from pytest_wsgateway.settings import DEFAULT_CONCURRENCY
from pytest_wsgateway.reference_server import ServerConfig, faults
from pytest_wsgateway.reference_server.api import DEFAULT_API_PATH
from pytest_wsgateway.runner import unmet_requirement
from pytest_wsgateway.targets import parse_url
from tests.harness import reference_server

TIMEOUT = 2.0  # generous: a loaded machine must not turn a slow answer into a verdict difference
SETTINGS = {"timeout": TIMEOUT, "echo": True, "api": load_api(str(DEFAULT_API_PATH)), "subprotocols": ("chat",)}


def verdicts(executor, target) -> dict[str, str]:
    cases = [case for case in shipped_catalogue() if target.runs(case) and unmet_requirement(case, target) is None]
    executor.prepare([(case, target) for case in cases])
    try:
        outcomes = {case.id: executor.outcome(case, target) for case in cases}
    finally:
        executor.close()
    return {case_id: "inconclusive" if o.inconclusive else "passed" if o.passed else "failed"
            for case_id, o in outcomes.items()}


@pytest.mark.parametrize("name", [None, *faults.names()])
def test_concurrent_verdicts_equal_serial_ones(name):
    fault, settings = faults.resolve(name), dict(SETTINGS)
    if fault.delay_101:  # every upgrade waits out the timeout, one after another in the serial run: keep it short
        settings["timeout"] = 0.5
        fault = fault.with_delay(1.0)
    with reference_server(ServerConfig(schemes=("ws",), subprotocols=("chat",), fault=fault)) as server:
        target = parse_url(server.urls["ws"], **settings)
        serial = verdicts(SerialExecutor(), target)
        concurrent = verdicts(ConcurrentExecutor(DEFAULT_CONCURRENCY), target)
    assert len(serial) > 100
    assert concurrent == serial


def test_xdist_with_the_concurrent_engine_gives_the_same_verdicts(pytester):
    def run(*extra):
        with reference_server(ServerConfig(schemes=("ws",), subprotocols=("chat",), fault="gatewayscript")) as server:
            result = pytester.runpytest_subprocess(
                "--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider", "-rA",
                f"--gateway-url={server.urls['ws']}", "--gateway-echo", "--gateway-subprotocol=chat", *extra,
                timeout=300)
        lines = [line for line in result.stdout.lines if line.startswith(("PASSED ", "FAILED ", "SKIPPED "))]
        return sorted(line.split(" - ")[0].replace(server.urls["ws"].split("/")[2], "HOST") for line in lines)

    assert run() == run("-n", "2") == run("--gateway-concurrency=1")


def test_the_embedded_run_gives_the_same_outcomes_from_a_forked_server_and_from_a_thread(pytester):
    """The default embedded run serves from a forked child process (``wsgateway_suite_server``);
    served from a thread of the pytest process (the fixture overridden), every item ends the same."""

    def run(kind):
        result = pytester.runpytest_subprocess("--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider",
                                               "-rA", "-p", "wsgateway_probe_kind", timeout=300)
        assert f"SERVED-BY {kind}" in result.stdout.str()
        outcomes = sorted(line.split(" - ")[0] for line in result.stdout.lines
                          if line.startswith(("PASSED ", "FAILED ", "SKIPPED ", "ERROR ")))
        assert result.ret == 0 and len(outcomes) > 300
        return outcomes

    pytester.syspathinsert()
    pytester.makepyfile(wsgateway_probe_kind="""
        import pytest

        @pytest.hookimpl(trylast=True)
        def pytest_sessionfinish(session):
            server = session.config._wsgateway_probe_server
            print("SERVED-BY", type(server).__name__)

        @pytest.fixture(scope="session", autouse=True)
        def _note_the_server(request, wsgateway_suite_server):
            request.config._wsgateway_probe_server = wsgateway_suite_server
    """)
    forked = run("ForkedServer")
    pytester.makeconftest("""
        import pytest

        @pytest.fixture(scope="session")
        def wsgateway_suite_server(wsgateway_server):
            return wsgateway_server
    """)
    threaded = run("ReferenceServer")
    assert forked == threaded
