"""JUnit XML (``--junitxml``): the suite's test cases get a classname that does not depend on
where the package is installed or where the run starts.

pytest derives ``classname`` from the node id, and the node id of a test file is its path
relative to the rootdir (or to the ``--pyargs`` package): ``test_conformance``,
``conformance.test_conformance`` or ``.venv.lib.python3.11.site-packages.pytest_wsgateway.conformance.test_conformance``
depending on the run. CI systems group and track test cases by classname, so the suite's own
test files are named after their module instead: ``pytest_wsgateway.conformance.test_conformance``.

:class:`JUnitNames` is registered on the process that writes the XML (the xdist controller, or
the only process) and runs before pytest's JUnit writer sees each report. It sets the attribute
through pytest's JUnit writer (``_pytest.junitxml``), the way ``record_xml_attribute`` does;
should that internal API change, the classnames are simply pytest's own.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

#: The import name of the suite's test files.
CONFORMANCE_PACKAGE = "pytest_wsgateway.conformance"


def _conformance_dir() -> Path | None:
    spec = importlib.util.find_spec(CONFORMANCE_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return Path(locations[0]).resolve() if locations else None


def _log_xml(config: pytest.Config) -> Any:
    try:
        from _pytest.junitxml import xml_key
    except ImportError:  # pragma: no cover - a pytest without it keeps its own classnames
        return None
    return config.stash.get(xml_key, None)


class JUnitNames:
    """Gives the suite's test cases the classname ``pytest_wsgateway.conformance.<module>``."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.directory = _conformance_dir()
        self.names: dict[str, str | None] = {}

    def classname(self, location: str) -> str | None:
        """The stable classname of a report's file (``report.location[0]``), None if not the suite's."""
        if location not in self.names:
            path = (self.config.rootpath / location).resolve()
            ours = self.directory is not None and path.parent == self.directory and path.suffix == ".py"
            self.names[location] = f"{CONFORMANCE_PACKAGE}.{path.stem}" if ours else None
        return self.names[location]

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        location = getattr(report, "location", None)
        if not location:
            return
        classname = self.classname(str(location[0]))
        xml = _log_xml(self.config) if classname else None
        if xml is None:
            return
        try:
            # The writer keeps attributes set before it records the report (record_xml_attribute's way).
            xml.node_reporter(report).attrs["classname"] = classname
        except (AttributeError, KeyError, TypeError):  # pragma: no cover - pytest internals changed
            return


#: The JUnit property of the ``tunnel-idle`` case when the connection was cut before the declared
#: quiet time (``--gateway-idle``): the observed cut-off in seconds, e.g. ``1.0``.
IDLE_CUTOFF_PROPERTY = "wsgateway_idle_cutoff"


def idle_cutoff_property(seconds: float) -> tuple[str, str]:
    """``(name, value)`` of the idle cut-off property (seconds, one decimal)."""
    return IDLE_CUTOFF_PROPERTY, f"{seconds:.1f}"


__all__ = ["CONFORMANCE_PACKAGE", "JUnitNames", "IDLE_CUTOFF_PROPERTY", "idle_cutoff_property"]
