"""What browsers make of each target (ids ``<name>@<target>``, marker ``browser``).

* ``origin-policy``: how the target treats a page from ``Origin: null`` (sandboxed iframes,
  file: pages) and from a foreign origin. Accepting or refusing is the gateway's policy, so the
  observed answer is *reported* (JUnit properties ``wsgateway_origin_null`` /
  ``wsgateway_origin_foreign``); the test fails only when the answer is neither a valid 101 nor
  a clean 4xx refusal (a 5xx, a broken 101, a reset or a hang).
* ``browser-probe`` (opt-in: ``--gateway-browser``): a real headless Chromium opens the target,
  without a subprotocol and offering ``[<subprotocol>, x-wsgateway-unknown]``; it must open, and
  the suite's client-side verdict on the same offer is shown beside Chromium's own reason.
"""

from __future__ import annotations

import pytest

from pytest_wsgateway import options

FOREIGN_ORIGIN = "https://foreign.wsgateway.invalid"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.function.__name__ in ("test_origin_policy", "test_browser_probe"):
        name = metafunc.function.__name__[len("test_"):].replace("_", "-")
        settings = options.settings(metafunc.config)
        metafunc.parametrize("wsgateway_target", [pytest.param(t, id=f"{name}@{t}", marks=pytest.mark.browser)
                                                  for t in settings.target_ids()], indirect=True)


def _origin_answer(target, origin: str, send) -> tuple[str, str | None]:
    """(what happened, why it is not acceptable or None) for a browser request from ``origin``."""
    from pytest_wsgateway.browser import client_verdict

    verdict = client_verdict(target.with_settings(origin=origin), send=send)
    outcome = verdict.outcome
    if verdict.opens:
        return "accepted (101)", None
    response = outcome.exchange.response if outcome.exchange is not None else None
    if response is not None and 400 <= response.status < 500:
        return f"refused ({response.status} {response.reason})".rstrip(), None
    return f"broken: {verdict.describe()[len('refuse: '):]}", outcome.message()


def test_origin_policy(wsgateway_target, wsgateway_executor, wsgateway_record_property):
    from pytest_wsgateway.browser import client_verdict

    def inconclusive(reason: str) -> None:
        wsgateway_record_property("wsgateway_target", wsgateway_target.id)
        wsgateway_record_property("wsgateway_inconclusive", reason)
        wsgateway_record_property("wsgateway_cause", reason)
        pytest.fail(f"INCONCLUSIVE origin-policy @ {wsgateway_target.url}: {reason}", pytrace=False)

    canary = wsgateway_executor.canary(wsgateway_target)
    if not canary.upgraded:  # an Origin policy shows only on a target that upgrades the valid request
        inconclusive(("not run: " if canary.dead else "") + canary.reason)
    # Through the executor: the run's rate cap and Retry-After handling apply, as to the cases
    # (which may be running at the same time: the concurrent engine starts them with this target).
    limited = 0

    def send(case, target):
        nonlocal limited
        label = f"origin-policy (Origin: {target.origin})" if target.origin else "origin-policy"
        outcome = wsgateway_executor.send(case, target, label)  # the label names it if the target dies next
        limited += outcome.rate_limited
        if outcome.inconclusive:  # rate-limited past the retry budget: nothing to judge
            inconclusive(outcome.inconclusive)
        return outcome

    problems = []
    try:
        same_origin = client_verdict(wsgateway_target, send=send)
        if not same_origin.opens:
            pytest.skip("not about Origin: a browser refuses this 101 without a foreign Origin too "
                        f"({same_origin.describe()}); the browser-handshake cases judge it")
        for label, origin in (("null", "null"), ("foreign", FOREIGN_ORIGIN)):
            observed, problem = _origin_answer(wsgateway_target, origin, send)
            wsgateway_record_property(f"wsgateway_origin_{label}", observed)
            if problem:
                problems.append(f"Origin: {origin} -> {observed}\n{problem}")
    finally:
        if limited:  # counted in the run's "answer(s) were rate limits" line
            wsgateway_record_property("wsgateway_rate_limited", limited)
    if problems:
        pytest.fail("a browser page from another origin gets neither a valid 101 nor a clean 4xx refusal "
                    "(RFC 6455 §4.2.2: refuse with an HTTP error such as 403)\n\n" + "\n\n".join(problems),
                    pytrace=False)


def test_browser_probe(wsgateway_target, request, wsgateway_record_property):
    from pytest_wsgateway import browser

    settings = options.settings(request.config)
    if not settings.browser:
        pytest.skip("the real-browser probe is opt-in: --gateway-browser (env WSGATEWAY_BROWSER=1)")
    chromium = browser.find_chromium(settings.browser_path)
    if chromium is None:
        pytest.skip(browser.INSTALL_HINT)
    offers = [()]
    target = wsgateway_target
    if target.subprotocols:
        offers.append((target.subprotocols[0], "x-wsgateway-unknown"))
    try:
        results = browser.probe([browser.Probe(target.url, offer) for offer in offers], chromium=chromium,
                                ca_pem=target.ca_file if target.secure and not target.insecure else None,
                                insecure=target.insecure, timeout=target.timeout)
    except browser.BrowserError as exc:
        pytest.skip(f"Chromium could not run: {exc}")
    failures = []
    for offer, result in zip(offers, results):
        verdict = browser.client_verdict(target, offer)
        shown = f"[{', '.join(offer)}]" if offer else "no subprotocol"
        wsgateway_record_property("wsgateway_browser_offer" if offer else "wsgateway_browser_no_subprotocol", result.describe())
        wanted = offer[0] if offer else ""
        if not result.opened or result.protocol != wanted:
            agreement = "agrees" if verdict.opens == result.opened else "DISAGREES (please report)"
            failures.append(f"offer {shown}: Chromium: {result.describe()}\n"
                            f"  suite's browser verdict ({agreement}): {verdict.describe()}")
    if failures:
        pytest.fail(f"a browser cannot use {target.url}\n" + "\n".join(failures), pytrace=False)
