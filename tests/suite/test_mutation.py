"""Mutation test: every fault profile is caught by the suite, with no collateral noise.

For each profile of ``reference_server.faults`` the reference server runs with that one mistake
(ws listener, HTTP/2 with prior knowledge too) and every case of the catalogue -- the HTTP/2
family included, over h2c (``--gateway-http2 on``) -- runs against it through the suite's own flow,
:func:`pytest_wsgateway.runner.run_case` (what ``test_conformance`` calls). Then, with the
profile's expected verdicts from ``tests/expected_verdicts/faults.yaml``:

(a) every case in the profile's ``caught_by`` fails -- the mutant is caught;
(b) the failing cases are *exactly* ``caught_by`` plus the profile's documented ``collateral``:
    nothing unrelated fails, and no documented collateral is stale.

Cases are independent connections, so they run on a thread pool: a profile that makes cases
wait for the timeout (``delayed-101``, ``no-pong``) costs about one timeout, not one per case.
A control run without a fault must pass everything. Two profiles also run through pytest itself
(pytester with ``--gateway-url``: ``gatewayscript`` over ws, ``status-200`` over wss) to show both
paths give the same verdicts, the wss-only TLS cases included. ``test_mutation_score`` prints
caught/total and requires 100 %.
"""

from __future__ import annotations

import concurrent.futures
import functools

import pytest

from tests import _fault_verdicts
from pytest_wsgateway.apidef import load_api
from pytest_wsgateway.cases import load_catalogue
from pytest_wsgateway.reference_server import (
    ReferenceServer,
    ServerConfig,
    faults,
    issue_server_cert,
    make_ca,
    server_ssl_context,
    write_ca_pem,
)
from pytest_wsgateway.reference_server.api import DEFAULT_API_PATH
from pytest_wsgateway.runner import Outcome, run_case
from pytest_wsgateway.targets import parse_url
from pytest_wsgateway.verdicts import is_refusal

pytest_plugins = ["pytester"]

#: Per network step. Small, so waiting faults stay quick; the correct server answers in ms.
TIMEOUT = 1.0
#: The declared idle time (--gateway-idle) and the cut-off of ``cuts-idle`` as served here: short,
#: the cut well inside the declared time (the profile's own 2 s would make every run wait).
IDLE, IDLE_CUT = 1.0, 0.4
#: Everything a case may require is provided, so no case is skipped: echo (the server echoes), the
#: API definition it serves, the subprotocol it speaks, (wss) a verified certificate, an idle time.
#: The API must carry messages of 1 MiB (--gateway-max-message): a clean size limit below that fails.
SETTINGS = {"timeout": TIMEOUT, "echo": True, "api": load_api(str(DEFAULT_API_PATH)), "subprotocols": ("chat",),
            "idle": IDLE, "http2": "on", "max_message": 1 << 20}
PROVIDED = {"echo", "api", "subprotocol", "verified-tls", "idle"}
#: Requirements this run leaves unmet on purpose: the rungs over 1 MiB (opt-in, ``large``) would cost
#: every profile ~0.5 s of CPU; the ladder up to 1 MiB and the flood catch the size profiles, and
#: tests/suite/test_tunnel_sizes.py runs the large rungs against them.
NOT_RUN = {"large"}
PROFILES = faults.names()
EXPECTED = _fault_verdicts.load()
#: The wss-only cases a wss run must include.
TLS_CASES = ("tls-certificate-verified", "tls-alpn-http11")


def server_fault(name: str | None) -> faults.Fault:
    """The profile as served here: a held 101 waits just past this test's timeout (not 6 s)."""
    fault = faults.resolve(name)
    if fault.delay_101:
        fault = fault.with_delay(TIMEOUT + 1.0)
    if fault.idle_cut:
        fault = fault.with_idle_cut(IDLE_CUT)
    return fault


def expected_failures(name: str, case_ids: set[str]) -> set[str]:
    """caught_by + collateral, restricted to the cases that run on this target's scheme."""
    return EXPECTED[name].failing & case_ids


@functools.lru_cache(maxsize=None)
def run_against(name: str | None) -> dict[str, Outcome]:
    """Every ws case against the reference server with fault ``name``: case id -> outcome."""
    cases = [case for case in load_catalogue() if "ws" in case.schemes and not NOT_RUN & set(case.requires)]
    unknown = {requirement for case in cases for requirement in case.requires} - PROVIDED
    assert not unknown, f"new case requirement(s) {unknown}: tell test_mutation whether SETTINGS provides them"
    # permessage-deflate on, as most backends have it: the deflate cases then have something to judge;
    # HTTP/2 with prior knowledge on the ws listener for the h2- family (--gateway-http2 on)
    config = ServerConfig(schemes=("ws",), subprotocols=("chat",), permessage_deflate=True, fault=server_fault(name),
                          h2c=True)
    with ReferenceServer(config) as server:
        target = parse_url(server.urls["ws"], **SETTINGS)
        with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
            outcomes = list(pool.map(lambda case: run_case(case, target), cases))
    return {outcome.case.id: outcome for outcome in outcomes}


def failed(outcomes: dict[str, Outcome]) -> set[str]:
    """The cases that failed (or were inconclusive); a case with nothing to judge (``not_offered``:
    permessage-deflate declined, RFC 8441 not offered) is skipped by ``test_conformance``, not failed,
    so not counted."""
    return {case_id for case_id, outcome in outcomes.items() if not outcome.passed and not outcome.not_offered}


def test_control_the_correct_server_fails_nothing():
    outcomes = run_against(None)
    assert len(outcomes) > 90
    assert failed(outcomes) == set(), [outcomes[c].summary() for c in sorted(failed(outcomes))]
    h2 = [outcome for outcome in outcomes.values() if outcome.case.transport == "h2"]
    assert len(h2) >= 16 and all(outcome.passed for outcome in h2), "the HTTP/2 family ran, over h2c, and passed"


@pytest.mark.parametrize("name", PROFILES)
def test_profile_is_caught_without_collateral_noise(name, record_property):
    outcomes = run_against(name)
    failing = failed(outcomes)
    missed = sorted(set(EXPECTED[name].caught_by) - failing)
    record_property("mutation_caught", not missed)
    assert not missed, f"{name}: the suite did not catch it; these cases passed: {missed}"
    expected = expected_failures(name, set(outcomes))
    noise = sorted(failing - expected)
    assert not noise, f"{name}: unrelated cases failed:\n" + "\n".join(outcomes[c].summary() for c in noise)
    stale = sorted(expected - failing)
    assert not stale, f"{name}: documented collateral that no longer fails: {stale}"


@pytest.mark.parametrize("name", list(faults.LEGAL))
def test_a_legal_intermediary_passes_every_case(name):
    """Legal behaviours of an intermediary (faults.LEGAL: splitting and coalescing fragments, RFC
    6455 §5.4) fail nothing: the suite does not mistake them for faults."""
    outcomes = run_against(name)
    assert len(outcomes) > 90
    assert failed(outcomes) == set(), [outcomes[c].summary() for c in sorted(failed(outcomes))]
    assert not set(faults.LEGAL) & set(PROFILES)  # not scored as faults


def test_mutation_score(request, record_property, capsys):
    caught = [name for name in PROFILES if set(EXPECTED[name].caught_by) <= failed(run_against(name))]
    score = f"{len(caught)}/{len(PROFILES)} fault profiles caught ({100 * len(caught) // len(PROFILES)} %)"
    record_property("mutation_score", score)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:  # None on xdist workers: the JUnit property still carries it
        with capsys.disabled():
            reporter.ensure_newline()
            reporter.write_line(f"mutation score: {score}")
    assert len(PROFILES) >= 20
    assert caught == PROFILES, f"mutation score {score}; missed: {sorted(set(PROFILES) - set(caught))}"


# --- the same verdicts through pytest itself ---------------------------------------------------


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory):
    ca = make_ca()
    path = write_ca_pem(ca, tmp_path_factory.mktemp("mutation-ca") / "ca.pem")
    return ca, str(path)


def r_reason(reports, case: str) -> str:
    """The skip reason of ``case``'s report."""
    return next(str(r.longrepr) for r in reports if case_of(r) == case)


def case_of(report) -> str:
    return report.nodeid.split("[", 1)[1].rsplit("@", 1)[0]


@pytest.mark.parametrize(("name", "scheme"), [("gatewayscript", "ws"), ("status-200", "wss")])
def test_a_pytest_run_gives_the_same_verdicts(pytester, ca_file, name, scheme):
    """The suite run by pytest (pytester, --gateway-url) fails exactly the expected cases too;
    over wss that includes the wss-only TLS cases, which the ws runs above never see."""
    ca, ca_path = ca_file
    config = ServerConfig(schemes=(scheme,), ssl_context=server_ssl_context(issue_server_cert(ca)),
                          subprotocols=("chat",), permessage_deflate=True, fault=server_fault(name))
    with ReferenceServer(config) as server:
        reprec = pytester.inline_run(
            "--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider",
            f"--gateway-url={server.urls[scheme]}", f"--gateway-ca={ca_path}", f"--gateway-timeout={TIMEOUT}",
            "--gateway-echo", f"--gateway-api={DEFAULT_API_PATH}", "--gateway-subprotocol=chat",
            f"--gateway-idle={IDLE}",
            "--gateway-max-message=16777216",  # every requirement provided: the rungs over 1 MiB run too
        )
    reports = [r for r in reprec.getreports("pytest_runtest_logreport")
               if r.when == "call" and "::test_conformance[" in r.nodeid]
    # every requirement of every case is provided; a profile that drops the extension offer
    # (gatewayscript) leaves the deflate cases nothing to judge: skipped, as run_against counts them
    skipped = {case_of(r) for r in reports if r.skipped}
    assert not {case for case in skipped if "permessage-deflate not negotiated" not in str(r_reason(reports, case))}
    assert skipped == {case for case, outcome in run_against(name).items() if outcome.not_offered}
    ran = {case_of(r) for r in reports}
    inconclusive = {case_of(r) for r in reports if r.failed and "wsgateway_inconclusive" in dict(r.user_properties)}
    failing = {case_of(r) for r in reports if r.failed} - inconclusive
    assert len(ran) > 90
    assert failing == expected_failures(name, ran)
    # Through pytest the executor's canary applies: where the profile refuses the valid upgrade, the
    # refusal cases that would pass are inconclusive (named with the reason in faults.yaml).
    refusals = {case.id for case in load_catalogue() if is_refusal(case)} & ran
    assert inconclusive == (refusals - failing if EXPECTED[name].inconclusive_refusals else set())
    if scheme == "wss":
        assert set(TLS_CASES) <= ran
