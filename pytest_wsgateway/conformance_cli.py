"""``wsgateway-conformance``: run the conformance suite from a shell, as a CI gate.

    wsgateway-conformance                                  # the embedded reference server
    wsgateway-conformance wss://gw.example.com/api/ws --gateway-ca ca.pem
    wsgateway-conformance ws://localhost:8080/ws -m must --junitxml=report.xml

Arguments that look like URLs (any ``scheme://…``, or ``host:port[/path]``) become
``--gateway-url``; a test id as this command prints it (``test_conformance.py::test_conformance[…]``)
runs that test alone; so a wrong scheme gets the options layer's one-line message; every
``--gateway-X VALUE`` is joined into ``--gateway-X=VALUE`` (pytest would otherwise take a value
such as a CA path for a test path, and that folder's project for its rootdir). The run is pinned
to the suite's own configuration -- ``--config-file`` the installed ``suite.ini``, ``--rootdir`` the working
directory, ``--noconftest`` -- unless the arguments choose these, so the ``addopts`` or
``conftest.py`` of a project the command happens to run in are not picked up. Everything else
goes to pytest unchanged. The exit status is pytest's: 0 all passed, 1 a case failed, 4 a usage error.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import os
import re
import sys

SUITE = "pytest_wsgateway.conformance"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_HOST_PORT = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*):[0-9]+(/.*)?")
#: pytest options whose value follows as the next argument: that value is never a URL.
_PYTEST_VALUED = frozenset({
    "-k", "-m", "-p", "-o", "-c", "-W", "-r", "-n", "--override-ini", "--config-file", "--rootdir", "--basetemp",
    "--junitxml", "--junit-xml", "--junit-prefix", "--confcutdir", "--deselect", "--ignore", "--ignore-glob",
    "--log-file", "--log-level", "--tb", "--maxfail", "--durations", "--dist", "--import-mode", "--capture",
    "--pythonwarnings", "--color", "--code-highlight", "--cov", "--cov-report", "--timeout",
})


def _valued_flags() -> frozenset[str]:
    from .options import OPTIONS

    return frozenset(f"--gateway-{name.replace('_', '-')}" for name, metavar, _, _ in OPTIONS if metavar is not None)


def looks_like_url(arg: str) -> bool:
    """``scheme://…`` or ``host:port[/path]`` (not a path, a node id or an option)."""
    return bool(_URL.match(arg) or _HOST_PORT.fullmatch(arg))


def build_args(argv: list[str]) -> list[str]:
    """The pytest arguments for ``argv``: URLs turned into --gateway-url, ``--gateway-X VALUE``
    joined into ``--gateway-X=VALUE``, the suite appended."""
    valued = _valued_flags()
    args: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        following = argv[index + 1] if index + 1 < len(argv) else None
        if arg in valued and following is not None and not following.startswith("--"):
            args.append(f"{arg}={following}")
            index += 2
            continue
        if arg in _PYTEST_VALUED and following is not None:
            args += [arg, following]
            index += 2
            continue
        node = _suite_node(arg)
        args.append(node if node is not None else f"--gateway-url={arg}" if looks_like_url(arg) else arg)
        index += 1
    if any(_suite_node(arg) is not None for arg in args):
        return args  # the tests named, not the whole suite besides
    return [*args, "--pyargs", SUITE]


#: The suite's test files, as the ids this command prints name them (``test_conformance.py::…``).
_SUITE_FILES = ("test_conformance.py", "test_browser.py")


def _suite_node(arg: str) -> str | None:
    """``arg`` as a path inside the installed suite when it names one of its files or tests -- an id
    as printed (``test_conformance.py::test_conformance[accept-rfc-vector@reference-ws]``) or the
    installed path itself -- else None."""
    name, sep, rest = arg.partition("::")
    if arg.startswith("-") or os.path.basename(name) not in _SUITE_FILES:
        return None
    suite = os.path.dirname(_suite_dir())
    if name in _SUITE_FILES or os.path.abspath(name) == os.path.join(suite, os.path.basename(name)):
        return os.path.join(suite, os.path.basename(name)) + sep + rest
    if os.path.isfile(name):  # e.g. conformance/test_conformance.py of a checkout, as `pytest conformance` prints it
        return os.path.abspath(name) + sep + rest
    return None


def pinned_config(args: list[str], cwd: str | None = None) -> list[str]:
    """``--config-file`` the suite's own ``suite.ini``, ``--rootdir`` the working directory and
    ``--noconftest``, unless ``args`` choose a configuration, a rootdir or a conftest rule themselves."""
    def given(*flags: str) -> bool:
        return any(arg in flags or arg.startswith(tuple(f"{flag}=" for flag in flags if flag.startswith("--")))
                   for arg in args)

    pinned = []
    if not given("-c", "--config-file"):
        # one word, --config-file=PATH: pytest-xdist rewrites an argument that is an existing path
        # for its remote (socket, ssh) workers and stops when that path lies outside its rsync roots
        pinned.append(f"--config-file={os.path.join(os.path.dirname(_suite_dir()), 'suite.ini')}")
    if not given("--rootdir"):
        pinned.append(f"--rootdir={cwd or os.getcwd()}")
    if not given("--noconftest", "--confcutdir"):  # the suite has none; the working directory's is foreign
        pinned.append("--noconftest")
    return pinned


def _suite_dir() -> str:
    """A file path inside the installed suite package (found without importing it)."""
    import importlib.util

    spec = importlib.util.find_spec(SUITE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    return os.path.join(locations[0], "__init__.py")


def main(argv: list[str] | None = None) -> int:
    import pytest

    args = build_args(sys.argv[1:] if argv is None else argv)
    return int(pytest.main([*pinned_config(args), *args]))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
