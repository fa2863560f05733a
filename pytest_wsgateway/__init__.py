"""pytest-wsgateway: an RFC 6455 opening-handshake conformance suite and fixtures for pytest.

The distribution holds three parts, each a top-level folder of the repository, mapped into this
package by ``pyproject.toml`` (``[tool.setuptools] package-dir``) -- the one place the mapping
is written:

* ``pytest_wsgateway``                  <- ``pytest_wsgateway/``: the plugin, the sans-I/O core,
  the transports and the gate (see ``docs/architecture.md``);
* ``pytest_wsgateway.conformance``      <- ``conformance/``: the case catalogue and its tests;
* ``pytest_wsgateway.reference_server`` <- ``reference_server/``: the reference server.

An installed copy (``pip install .`` or ``pip install -e .``) resolves the three names through
that mapping; there is no path manipulation at import time.

(PYTEST_DONT_REWRITE: the ``wsgateway-conformance`` script imports this package before pytest
starts; it has no assertions to rewrite, so pytest need not warn that it came first.)
"""

from __future__ import annotations

__version__ = "0.1.0"
