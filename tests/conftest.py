"""Shared by every test folder: the pytester plugin, the ``slow`` marker rule, a clean suite environment.

Helpers that tests import live in modules (``tests.harness``, ``tests._targets``, the ``_*.py``
modules of each folder), never here.
"""

from __future__ import annotations

import os

import pytest
import yaml  # noqa: F401

# pytester restores sys.modules after each test: a PyYAML first imported inside a test is
# imported again by the next, and libyaml's CSafeLoader then no longer finds its constructors
# ("could not determine a constructor for the tag None"). Imported here, it stays put.

# Many tests run the suite (or a user's project) in-process or in a subprocess through pytester.
pytest_plugins = ["pytester"]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skip a test marked ``slow`` unless the run asked for it (``-m slow``).

    The project's pytest configuration does not deselect ``slow`` by default, so a plain
    ``pytest`` would otherwise run the long fuzz and load runs.
    """
    if item.get_closest_marker("slow") is None:
        return
    expression = item.config.getoption("markexpr") or ""
    if "slow" not in expression or "not slow" in expression:
        pytest.skip("long run: select it with -m slow")


@pytest.fixture
def no_suite_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No ``WSGATEWAY_*`` variable of the developer's shell reaches an in-process suite run."""
    for name in [name for name in os.environ if name.startswith("WSGATEWAY_")]:
        monkeypatch.delenv(name)
