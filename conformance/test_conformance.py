"""Every case of the catalogue against every target (ids: ``<case>@<target>``).

The plugin parametrizes ``wsgateway_case`` and ``wsgateway_target``; the whole flow of a case
(request -> exchange -> checks) is :func:`pytest_wsgateway.runner.run_case`.
"""

import pytest

from pytest_wsgateway.cases import REQUIREMENTS
from pytest_wsgateway.runner import run_case


def test_conformance(wsgateway_case, wsgateway_target, wsgateway_settings):
    available = {"echo": wsgateway_settings.echo, "api": wsgateway_settings.api is not None,
                 "verified-tls": not wsgateway_target.insecure}
    for requirement in wsgateway_case.requires:
        if not available[requirement]:
            pytest.skip(REQUIREMENTS[requirement])
    outcome = run_case(wsgateway_case, wsgateway_target, wsgateway_settings)
    if not outcome.passed:
        pytest.fail(outcome.message(), pytrace=False)
