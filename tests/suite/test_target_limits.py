"""A target's own ``rate`` and ``concurrency`` (targets file) against a real reference server."""

from __future__ import annotations

import time

from pytest_wsgateway.cases import shipped_catalogue
from pytest_wsgateway.executor import ConcurrentExecutor, SerialExecutor, disturbing
from pytest_wsgateway.reference_server import ServerConfig
from pytest_wsgateway.reference_server.faults import Fault
from pytest_wsgateway.runner import unmet_requirement
from pytest_wsgateway.targets import parse_url
from tests.harness import reference_server


def slow_answers(request, response):
    time.sleep(0.03)  # every answer takes a while: cases that run at once overlap for sure
    return response


def cases_for(target, count):
    found = [case for case in shipped_catalogue() if target.runs(case) and unmet_requirement(case, target) is None
             and not disturbing(case) and case.transport == "http/1.1"]
    return found[:count]


def run_all(executor, target, cases):
    executor.prepare([(case, target) for case in cases])
    try:
        return {case.id: executor.outcome(case, target) for case in cases}
    finally:
        executor.close()


def test_a_targets_concurrency_caps_its_cases_in_flight():
    fault = Fault(name="slow", doc="slow answers", seen="", respond=slow_answers)
    with reference_server(ServerConfig(schemes=("ws",), fault=fault)) as server:
        peaks = {}
        for own in (None, 2, 1):
            target = parse_url(server.urls["ws"], timeout=5.0).with_settings(concurrency=own)
            executor = ConcurrentExecutor(16)
            outcomes = run_all(executor, target, cases_for(target, 12))
            assert len(outcomes) == 12 and all(o.passed for o in outcomes.values())
            peaks[own] = executor.peak[target.id]
    assert peaks[1] == 1 and peaks[2] == 2 and peaks[None] > 2, peaks


def test_a_target_with_more_concurrency_than_the_run_gets_it():
    # --gateway-concurrency 1 (the run's default for other targets), this target 4: the engine has 4 threads
    fault = Fault(name="slow", doc="slow answers", seen="", respond=slow_answers)
    with reference_server(ServerConfig(schemes=("ws",), fault=fault)) as server:
        own = parse_url(server.urls["ws"], target_id="own").with_settings(concurrency=4)
        other = parse_url(server.urls["ws"], target_id="other")
        first = ConcurrentExecutor(4, default_concurrency=1)
        run_all(first, own, cases_for(own, 8))
        second = ConcurrentExecutor(4, default_concurrency=1)
        run_all(second, other, cases_for(other, 8))
    assert first.peak["own"] == 4 and second.peak["other"] == 1


def test_a_targets_rate_paces_its_requests_and_overrides_the_runs():
    now = [100.0]
    waits = []

    def sleep(seconds):
        waits.append(round(seconds, 6))
        now[0] += seconds

    with reference_server(ServerConfig(schemes=("ws",))) as server:
        own = parse_url(server.urls["ws"], target_id="own").with_settings(rate=20.0)
        other = parse_url(server.urls["ws"], target_id="other")
        executor = SerialExecutor(rate=1.0, sleep=sleep, clock=lambda: now[0])
        outcomes = run_all(executor, own, cases_for(own, 5))
        assert all(o.passed for o in outcomes.values())
        # the canary, then 5 cases: 1/20 s apart (not the run's 1 s)
        assert waits == [0.05] * 5
        waits.clear()
        run_all(executor, other, cases_for(other, 3))
        assert waits == [1.0] * 3  # the other target: the run's --gateway-rate
        unpaced = SerialExecutor(sleep=sleep, clock=lambda: now[0])
        waits.clear()
        run_all(unpaced, other, cases_for(other, 3))
        assert waits == []


def test_the_engine_has_as_many_threads_as_the_largest_target_needs(pytester):
    from pytest_wsgateway import options

    pytester.path.joinpath("targets.yaml").write_text(
        "targets:\n  - {id: one, url: 'ws://127.0.0.1:9/a'}\n  - {id: four, url: 'ws://127.0.0.1:9/b', concurrency: 4}\n")
    config = pytester.parseconfigure("--gateway-targets=targets.yaml", "--gateway-concurrency=1")
    engine = options.executor(config)
    assert isinstance(engine, ConcurrentExecutor)
    assert (engine.concurrency, engine.default_concurrency) == (4, 1)
    config = pytester.parseconfigure("--gateway-url=ws://127.0.0.1:9/a", "--gateway-concurrency=1")
    assert type(options.executor(config)) is SerialExecutor
