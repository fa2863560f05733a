"""Every case of the catalogue against every target (ids: ``<case>@<target>``).

The plugin parametrizes ``wsgateway_case`` and ``wsgateway_target``; the whole flow of a case
(request -> exchange -> checks) is :func:`pytest_wsgateway.runner.run_case`.
"""

import pytest

from pytest_wsgateway.runner import run_case, unmet_requirement


def test_conformance(wsgateway_case, wsgateway_target, wsgateway_settings):
    reason = unmet_requirement(wsgateway_case, wsgateway_target, wsgateway_settings)
    if reason:
        pytest.skip(reason)
    outcome = run_case(wsgateway_case, wsgateway_target, wsgateway_settings)
    if not outcome.passed:
        pytest.fail(outcome.message(), pytrace=False)
