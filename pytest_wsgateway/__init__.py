"""pytest-wsgateway: an RFC 6455 opening-handshake conformance suite and fixtures for pytest.

Installed, this package holds three parts: the plugin and its client/check modules (here), the
conformance suite (``pytest_wsgateway.conformance``, the repository's ``conformance/`` folder) and
the reference server (``pytest_wsgateway.reference_server``, the repository's ``reference_server/``).
The build backend maps those folders into this namespace (see ``pyproject.toml``).

(PYTEST_DONT_REWRITE: the ``wsgateway-conformance`` script imports this package before pytest
starts; it has no assertions to rewrite, so pytest need not warn that it came first.)
"""

from __future__ import annotations

import os as _os

__version__ = "0.1.0"


def _map_source_checkout() -> None:
    # Run uninstalled from a source checkout (e.g. ``python -m pytest`` puts the checkout first on
    # sys.path), the sibling folders are not inside this package: mirror the build backend's
    # mapping so ``pytest_wsgateway.reference_server`` names the same code in both layouts.
    root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
    if _os.path.isfile(_os.path.join(root, "pyproject.toml")) and _os.path.isdir(
        _os.path.join(root, "reference_server")
    ):
        __path__.append(root)  # type: ignore[name-defined]  # noqa: F821


_map_source_checkout()
