"""The conformance suite: the YAML case catalogue (``cases/``) and the test that runs it.

Installed as ``pytest_wsgateway.conformance``; run it with ``pytest --pyargs
pytest_wsgateway.conformance [--gateway-url URL]`` or ``wsgateway-conformance URL``.
"""
