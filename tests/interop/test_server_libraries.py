"""The suite against WebSocket server libraries with their defaults: websockets, aiohttp, tornado,
and uvicorn with its websockets and wsproto backends (tests/interop/_servers.py), each on loopback in a
thread with its own event loop; the suite runs once against all of them.

The exact set of failing cases must equal tests/expected_verdicts/<library>.yaml, where each
failure is shown to be a real deviation (raw request and response, RFC text).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading

import pytest

from tests import _fault_verdicts
from tests.harness import target_id
from tests.interop import _gateways, _servers

pytestmark = pytest.mark.usefixtures("no_suite_environment")


@dataclasses.dataclass
class Libraries:
    urls: dict[str, str]
    recorder: _gateways.VerdictRecorder | None = None


@pytest.fixture(scope="module")
def libraries():
    """Every library's echo server, running; their threads are checked gone after the module."""
    before = set(threading.enumerate())
    with contextlib.ExitStack() as stack:
        yield Libraries({name: stack.enter_context(factory()) for name, factory in _servers.LIBRARIES.items()})
    left = [thread for thread in threading.enumerate() if thread not in before and thread.is_alive()]
    assert left == [], f"server threads outlived the fixture: {left}"


@pytest.fixture
def verdicts(libraries, pytester):
    """One suite run over ws:// against every library, shared by the per-library tests."""
    if libraries.recorder is None:
        recorder = _gateways.VerdictRecorder()
        pytester.inline_run(*_gateways.suite_args(list(libraries.urls.values()), None), plugins=[recorder])
        libraries.recorder = recorder
    return libraries.recorder


@pytest.mark.parametrize("library", list(_servers.LIBRARIES))
def test_suite_verdicts_on_the_library_are_the_expected_ones(library, libraries, verdicts):
    found = verdicts.for_target(target_id(libraries.urls[library]))
    assert _gateways.compare_with_expected(library, found, "ws") == []
    # A sanity bound against a broken run (every case being run is checked above): even the
    # misconfigured nginx, which fails every case that needs a 101, passes the rest.
    assert sum(verdict.outcome == "passed" for verdict in found.values()) >= 50


def test_every_library_has_an_expected_verdicts_file_and_a_matrix_column():
    files = {path.stem for path in _gateways.EXPECTED_DIR.glob("*.yaml")} - {_fault_verdicts.PATH.stem}
    assert set(_servers.LIBRARIES) | set(_gateways.KINDS) | set(_gateways.H2_PEERS) | set(_gateways.H11_VIA_H2) == files
    assert set(_servers.TITLES) == set(_servers.LIBRARIES)
