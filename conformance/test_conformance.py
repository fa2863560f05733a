"""Every case of the catalogue against every target (ids: ``<case>@<target>``).

The plugin parametrizes ``wsgateway_case`` and ``wsgateway_target``; the executor
(:mod:`pytest_wsgateway.executor`) runs the case (request -> transport -> checks, see
:func:`pytest_wsgateway.runner.run_case`) and this test reports its outcome.
"""

import pytest

from pytest_wsgateway.plugin import RENDERED_KEY
from pytest_wsgateway.runner import unmet_requirement


def test_conformance(wsgateway_case, wsgateway_target, wsgateway_executor, request):
    reason = unmet_requirement(wsgateway_case, wsgateway_target)
    if reason:
        pytest.skip(reason)
    outcome = wsgateway_executor.outcome(wsgateway_case, wsgateway_target)
    if not outcome.passed:
        message = request.node.stash[RENDERED_KEY] = outcome.message()
        pytest.fail(message, pytrace=False)
