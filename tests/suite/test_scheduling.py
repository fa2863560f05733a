"""How the concurrent engine schedules a target's cases, against a real reference server: the long
cases start first, the disturbing ones run alone after every other case and after the target's
first item asked, and a target's cases start when the run reaches it. Checked on the order of
events (which request went out before which), never on timings."""

from __future__ import annotations

import threading
import time

import pytest

from pytest_wsgateway.cases import shipped_catalogue
from pytest_wsgateway.executor import ConcurrentExecutor, SerialExecutor, disturbing, longest_first, round_trips
from pytest_wsgateway.reference_server import ServerConfig
from pytest_wsgateway.reference_server.faults import Fault
from pytest_wsgateway.runner import unmet_requirement
from pytest_wsgateway.targets import parse_url
from tests.harness import reference_server

CATALOGUE = {case.id: case for case in shipped_catalogue()}


class Recording:
    """An executor that notes when each request goes out and when its answer is in (in order)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.log: list[tuple[str, str]] = []
        self.changed = threading.Condition()

    def _send(self, case, target):
        with self.changed:
            self.log.append(("start", case.id))
        try:
            return super()._send(case, target)
        finally:
            with self.changed:
                self.log.append(("end", case.id))
                self.changed.notify_all()

    def wait_for(self, predicate, seconds: float = 30.0) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self.log), seconds)


class RecordingConcurrent(Recording, ConcurrentExecutor):
    pass


class RecordingSerial(Recording, SerialExecutor):
    pass


def slow_answers(request, response):
    time.sleep(0.02)  # every answer takes a while: cases that run at once overlap for sure
    return response


def runnable(target):
    return [case for case in shipped_catalogue()
            if target.runs(case) and unmet_requirement(case, target) is None and case.transport == "http/1.1"]


def ended(log, ids) -> bool:
    return set(ids) <= {case_id for event, case_id in log if event == "end"}


def test_round_trips_count_the_handshake_and_each_step():
    assert round_trips(CATALOGUE["accept-rfc-vector"]) == 1  # the handshake alone
    three_pings = CATALOGUE["tunnel-three-pings"]
    assert round_trips(three_pings) == 1 + len(three_pings.after) > 3
    assert round_trips(CATALOGUE["tunnel-idle"]) > max(round_trips(case) for case in CATALOGUE.values()
                                                     if not any(action == "idle" for action, _ in case.after))


def test_round_trips_count_the_bytes_of_every_kind_of_step():
    """Size-ladder rungs (frames.Sized) and the flood (frames.Flood) count by their bytes, as a
    message or a burst does: every case of the catalogue is countable (an uncounted step type once
    raised AttributeError in the first item of every target)."""
    trips = {case_id: round_trips(case) for case_id, case in CATALOGUE.items()}
    ladder = CATALOGUE["tunnel-size-binary"]
    assert trips["tunnel-size-binary"] > 1 + len(ladder.after)  # its 1 MiB rung crosses in many trips
    assert trips["tunnel-size-large-binary"] > trips["tunnel-size-binary"]
    assert trips["tunnel-backpressure"] > 1 + len(CATALOGUE["tunnel-backpressure"].after)


def test_longest_first_keeps_the_run_order_among_equals():
    cases = list(shipped_catalogue())
    ordered = longest_first(cases)
    assert sorted(ordered, key=lambda case: case.id) == sorted(cases, key=lambda case: case.id)
    trips = [round_trips(case) for case in ordered]
    assert trips == sorted(trips, reverse=True) and trips[0] > trips[-1]
    position = {case.id: index for index, case in enumerate(cases)}
    for before, after in zip(ordered, ordered[1:]):
        if round_trips(before) == round_trips(after):
            assert position[before.id] < position[after.id]


def test_bodies_idle_probes_and_messages_above_1_mib_are_the_disturbing_cases():
    """What may knock a gateway over runs alone: a request body, a connection held quiet, messages
    above 1 MiB (the last two opt-in); a 1 MiB ladder, ordinary tunnels and the default run's
    flood run with the others (a crash then is "not known", never a bystander's: test_verdict_edges)."""
    loud = {case_id for case_id, case in CATALOGUE.items() if disturbing(case)}
    assert {"body-content-length", "body-chunked", "tunnel-idle",
            "tunnel-size-large-binary", "tunnel-size-large-text-fragmented"} <= loud
    assert not {"tunnel-size-binary", "tunnel-size-text-fragmented", "tunnel-three-pings", "accept-rfc-vector",
                "tunnel-backpressure"} & loud
    assert all(case.request.body or any(action == "idle" for action, _ in case.after)
               or "large" in case.requires for case in map(CATALOGUE.get, loud))


def test_the_long_cases_go_out_first_and_the_disturbing_ones_last():
    with reference_server(ServerConfig(schemes=("ws",), permessage_deflate=True)) as server:
        target = parse_url(server.urls["ws"], timeout=5.0, echo=True)
        cases = runnable(target)
        executor = RecordingConcurrent(1)  # one thread: requests go out in the engine's start order
        executor.prepare([(case, target) for case in cases])
        try:
            outcomes = {case.id: executor.outcome(case, target) for case in cases}
        finally:
            executor.close()
    assert all(outcome.passed for outcome in outcomes.values()), [i for i, o in outcomes.items() if not o.passed]
    quiet = [case.id for case in longest_first([case for case in cases if not disturbing(case)])]
    loud = [case.id for case in cases if disturbing(case)]
    assert loud and round_trips(CATALOGUE[quiet[0]]) > 1
    sent = [case_id for event, case_id in executor.log if event == "start"]
    assert sent == ["canary", *quiet, *loud]
    assert executor.started[target.id] == [*quiet, *loud]


def test_disturbing_cases_run_alone_after_every_other_case():
    fault = Fault(name="slow", doc="slow answers", seen="", respond=slow_answers)
    with reference_server(ServerConfig(schemes=("ws",), fault=fault)) as server:
        target = parse_url(server.urls["ws"], timeout=5.0)
        cases = runnable(target)
        executor = RecordingConcurrent(16)
        executor.prepare([(case, target) for case in cases])
        try:
            outcomes = {case.id: executor.outcome(case, target) for case in cases}
        finally:
            executor.close()
    assert all(outcome.passed for outcome in outcomes.values())
    assert executor.peak[target.id] > 2  # the quiet ones did overlap
    loud = {case.id for case in cases if disturbing(case)}
    assert len(loud) >= 2
    in_flight: set[str] = set()
    seen_loud = False
    for event, case_id in executor.log:
        if event == "start":
            if case_id in loud:
                assert not in_flight, (case_id, in_flight)  # alone: nothing else in flight
                seen_loud = True
            else:
                assert not seen_loud, case_id  # no quiet case after a disturbing one
            in_flight.add(case_id)
        else:
            in_flight.discard(case_id)
    assert seen_loud


@pytest.mark.parametrize("release", ["the other items are over", "an item of the target asks"])
def test_a_targets_cases_start_when_the_run_reaches_it_and_the_disturbing_ones_wait_for_its_other_items(release):
    with reference_server(ServerConfig(schemes=("ws",))) as server:
        target = parse_url(server.urls["ws"], timeout=5.0)
        cases = runnable(target)
        quiet = [case.id for case in cases if not disturbing(case)]
        loud = [case.id for case in cases if disturbing(case)]
        executor = RecordingConcurrent(16)
        # two items outside the catalogue exchange with the target (origin-policy, the browser probe)
        executor.prepare([(case, target) for case in cases], {target.id: 2})
        try:
            assert executor.log == []  # prepared, nothing sent
            executor.start(target)  # the run reached the target (its wsgateway_target fixture)
            assert executor.wait_for(lambda log: ended(log, quiet))  # no item asked: the quiet ones ran
            # ... but the disturbing ones wait until those items are over (they may still be
            # exchanging with the target), or an item of the target asks (the items before it are over)
            executor.other_item_done(target.id)
            assert not executor.wait_for(lambda log: any(case_id in loud for _, case_id in log), 0.5)
            first = cases[0]
            if release == "the other items are over":
                executor.other_item_done(target.id)
            else:
                assert executor.outcome(first, target).passed
            assert executor.wait_for(lambda log: ended(log, loud))
            sent = [case_id for event, case_id in executor.log if event == "start"]
            assert sorted(sent) == sorted(["canary", *quiet, *loud])  # each case once
            assert all(executor.outcome(case, target).passed for case in cases[1:])
        finally:
            executor.close()


def test_closing_drops_a_disturbing_chain_still_waiting():
    with reference_server(ServerConfig(schemes=("ws",))) as server:
        target = parse_url(server.urls["ws"], timeout=5.0)
        cases = runnable(target)
        quiet = [case.id for case in cases if not disturbing(case)]
        loud = [case.id for case in cases if disturbing(case)]
        executor = RecordingConcurrent(16)
        executor.prepare([(case, target) for case in cases], {target.id: 1})
        executor.start(target)
        assert executor.wait_for(lambda log: ended(log, quiet))
        executor.close()  # e.g. -x stopped the run during origin-policy
        assert not executor.wait_for(lambda log: any(case_id in loud for _, case_id in log), 0.5)


def test_one_at_a_time_starts_nothing_ahead():
    with reference_server(ServerConfig(schemes=("ws",))) as server:
        target = parse_url(server.urls["ws"], timeout=5.0)
        cases = runnable(target)[:3]
        executor = RecordingSerial()
        executor.prepare([(case, target) for case in cases])
        executor.start(target)
        assert executor.log == []  # --gateway-concurrency 1: each case when its item asks
        assert executor.outcome(cases[0], target).passed
        assert [case_id for event, case_id in executor.log if event == "start"] == ["canary", cases[0].id]


def test_the_options_help_states_the_default_concurrency():
    from pytest_wsgateway.options import OPTIONS
    from pytest_wsgateway.settings import DEFAULT_CONCURRENCY

    help_text = next(row[2] for row in OPTIONS if row[0] == "concurrency")
    assert f"(default {DEFAULT_CONCURRENCY};" in help_text


def test_the_engines_threads_import_none_of_the_package(tmp_path):
    # pytest's assertion-rewriting hook parses each module of this package into an ast in the
    # importing thread; two such parses at once can fail on CPython < 3.11.8 (python/cpython#106905),
    # and the main thread imports test modules (browser.py for origin-policy) while the cases run
    script = tmp_path / "imports.py"
    script.write_text(
        "import sys, threading\n"
        "seen = []\n"
        "class Recorder:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.startswith('pytest_wsgateway'):\n"
        "            seen.append((name, threading.current_thread().name))\n"
        "        return None\n"
        "sys.meta_path.insert(0, Recorder())\n"
        "from pytest_wsgateway.cases import shipped_catalogue\n"
        "from pytest_wsgateway.executor import ConcurrentExecutor\n"
        "from pytest_wsgateway.targets import parse_url\n"
        "target = parse_url(sys.argv[1], timeout=2.0, echo=True)\n"
        "cases = [c for c in shipped_catalogue() if target.runs(c)]\n"
        "executor = ConcurrentExecutor(8)\n"
        "executor.prepare([(c, target) for c in cases])\n"
        "executor.start(target)\n"
        "outcomes = [executor.outcome(c, target) for c in cases]\n"
        "executor.close()\n"
        "elsewhere = sorted({name for name, thread in seen if thread != 'MainThread'})\n"
        "print('imported off the main thread:', elsewhere)\n"
        "assert not elsewhere\n"
        "assert 'pytest_wsgateway.http1' in sys.modules and len(outcomes) > 100\n"
    )
    import subprocess
    import sys

    with reference_server(ServerConfig(schemes=("ws",))) as server:
        done = subprocess.run([sys.executable, str(script), server.urls["ws"]], capture_output=True, text=True,
                              timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_disturbing_cases_never_wait_for_an_item_that_comes_after_them(pytester):
    """Reordered (here: reversed, as a random-order plugin may do), origin-policy runs after the
    body cases it would otherwise precede: the body cases' own items release them, no deadlock."""
    pytester.makeconftest("""
        def pytest_collection_modifyitems(items):
            items.reverse()
    """)
    result = pytester.runpytest_subprocess("--rootdir", str(pytester.path), "--confcutdir", str(pytester.path),
                                           "--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider",
                                           "-k", "origin-policy or body- or accept-rfc-vector", "-v", timeout=120)
    result.assert_outcomes(passed=8)
    order = [line.split("[", 1)[1].split("]")[0] for line in result.stdout.lines if " PASSED" in line]
    assert order.index("body-chunked@reference-wss") < order.index("origin-policy@reference-wss")
