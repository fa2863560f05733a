"""The reference server served from a forked child process (``reference_server.forked``) and the
``wsgateway_suite_server`` fixture that uses it for the embedded conformance run.

A test process runs threads (other tests' servers), where forking is refused; so every fork here
happens in a fresh Python started for the test, which prints what it saw as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from pytest_wsgateway.reference_server import ServerConfig
from pytest_wsgateway.reference_server.forked import ForkedServer, fork_unsafe_reason

#: Bound on one helper Python (start, fork, a few handshakes, stop).
SCRIPT_TIMEOUT = 60

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the server forks on Linux only")

_PRELUDE = """
import json, os, signal, sys, time
from websockets.sync.client import connect
from pytest_wsgateway.reference_server import (ServerConfig, client_ssl_context, issue_server_cert,
                                               make_ca, server_ssl_context)
from pytest_wsgateway.reference_server.forked import ForkedServer, fork_unsafe_reason

ca = make_ca()
config = ServerConfig(schemes=("ws", "wss"), ssl_context=server_ssl_context(issue_server_cert(ca)))
client_context = client_ssl_context(ca)

def echo(url):
    with connect(url, ssl=client_context if url.startswith("wss") else None, open_timeout=5, close_timeout=5) as ws:
        ws.send("hello")
        return ws.recv(timeout=5)

def gone(pid):
    '''True once ``pid`` has exited (a zombie nobody reaps counts as exited).'''
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
"""


def _run(body: str) -> dict:
    """Run ``_PRELUDE`` + ``body`` in a fresh Python; the JSON object its last line prints."""
    script = _PRELUDE + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=SCRIPT_TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


def test_a_forked_server_serves_ws_and_wss_from_its_own_process_and_stop_reaps_it():
    seen = _run("""
        before = fork_unsafe_reason()
        server = ForkedServer(config).start()
        pid = server.pid
        echoes = {scheme: echo(url) for scheme, url in server.urls.items()}
        os.kill(pid, signal.SIGINT)  # Ctrl-C reaches the whole process group: the child ignores it
        time.sleep(0.2)
        after_sigint = echo(server.urls["ws"])
        server.stop()
        print(json.dumps({"before": before, "me": os.getpid(), "pid": pid, "echoes": echoes,
                          "after_sigint": after_sigint, "gone": gone(pid), "stopped": server.pid}))
    """)
    assert seen["before"] is None  # a fresh single-threaded Python on Linux may fork
    assert seen["pid"] not in (None, seen["me"])
    assert seen["echoes"] == {"ws": "hello", "wss": "hello"}
    assert seen["after_sigint"] == "hello"
    assert seen["gone"] is True and seen["stopped"] is None


def test_the_child_stops_when_the_process_that_forked_it_dies():
    """No teardown at all (SIGKILL): only the end of the pipe the child watches closes."""
    script = _PRELUDE + textwrap.dedent("""
        server = ForkedServer(config).start()
        print(json.dumps({"pid": server.pid}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=SCRIPT_TIMEOUT)
    assert proc.returncode == -9, proc.stderr[-4000:]
    child = json.loads(proc.stdout.strip().splitlines()[-1])["pid"]
    assert _wait_gone(child), f"the forked server {child} outlived the process that forked it"


def test_the_child_stops_with_its_parent_even_when_a_fork_of_the_parent_holds_the_pipe():
    """A helper forked (without exec) by the parent inherits the end of the pipe the child watches:
    the kernel's parent-death signal still stops the server when the parent dies."""
    script = _PRELUDE + textwrap.dedent("""
        server = ForkedServer(config).start()
        helper = os.fork()
        if helper == 0:
            os.closerange(0, 3)  # the test reads this script's output to its end
            time.sleep(20)
            os._exit(0)
        print(json.dumps({"pid": server.pid, "helper": helper}), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=SCRIPT_TIMEOUT)
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    try:
        assert _wait_gone(seen["pid"], timeout=5.0), "the forked server outlived its parent while a helper lived"
    finally:
        os.kill(seen["helper"], 9)


def test_ctrl_c_while_start_waits_for_the_child_leaves_no_child_behind():
    seen = _run("""
        import select
        from pytest_wsgateway.reference_server import forked

        forked_pids = []
        real_fork = os.fork

        def fork():
            pid = real_fork()
            if pid:
                forked_pids.append(pid)
            return pid

        def interrupted(*args):
            raise KeyboardInterrupt

        os.fork, forked.select = fork, type("select", (), {"select": staticmethod(interrupted)})
        try:
            forked.ForkedServer(config).start()
        except KeyboardInterrupt:
            pass
        (child,) = forked_pids
        try:
            os.waitpid(child, os.WNOHANG)
            reaped = False
        except ChildProcessError:
            reaped = True
        print(json.dumps({"reaped": reaped, "gone": gone(child)}))
    """)
    assert seen == {"reaped": True, "gone": True}  # before: serving on, or a zombie nobody reaps


def test_a_forked_servers_counters_say_where_they_are():
    with pytest.raises(AttributeError, match="counters live in its child process: serve from a thread"):
        ForkedServer(ServerConfig(schemes=("ws",))).handshakes


def test_start_says_when_the_child_exits_before_serving():
    seen = _run("""
        from pytest_wsgateway.reference_server.server import ReferenceServer

        async def broken(self, stop=None, ready=None):
            raise OSError("no loop for you")

        ReferenceServer.run = broken
        try:
            ForkedServer(config).start()
        except RuntimeError as exc:
            print(json.dumps({"error": str(exc)}))
    """)
    assert seen["error"] == "reference server process exited before serving (exit status 1): OSError: no loop for you"


def test_forking_is_refused_while_another_thread_runs():
    release = threading.Event()
    thread = threading.Thread(target=release.wait, daemon=True)
    thread.start()
    try:
        reason = fork_unsafe_reason()
        assert reason is not None and "threads (forking is safe with one)" in reason
        with pytest.raises(RuntimeError, match="cannot serve from a forked process: this process runs"):
            ForkedServer(ServerConfig(schemes=("ws",))).start()
    finally:
        release.set()
        thread.join(5)


# --- the fixture -------------------------------------------------------------------------------

_FIXTURE_TEST = """
import os


def test_kind(wsgateway_suite_server):
    kind = type(wsgateway_suite_server).__name__
    pid = getattr(wsgateway_suite_server, "pid", os.getpid())
    print(f"SERVED-BY {kind} {'child' if pid != os.getpid() else 'this process'}")
"""


def test_the_embedded_run_is_served_from_a_forked_process_and_passes(pytester):
    pytester.makepyfile(test_kind=_FIXTURE_TEST)
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*SERVED-BY ForkedServer child*"])
    # and the catalogue on it: the embedded run's own targets are bound to that server
    run = pytester.runpytest_subprocess("--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider",
                                        "-k", "accept-rfc-vector or tunnel-size-binary-fragmented")
    run.assert_outcomes(passed=4)


def test_with_another_thread_running_the_fixture_serves_from_a_thread(pytester):
    pytester.makeconftest("""
        import threading

        _release = threading.Event()


        def pytest_configure(config):
            threading.Thread(target=_release.wait, daemon=True).start()


        def pytest_unconfigure(config):
            _release.set()
    """)
    pytester.makepyfile(test_kind=_FIXTURE_TEST)
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*SERVED-BY ReferenceServer this process*"])


def test_pytests_logging_options_do_not_reach_the_forked_servers_sockets(pytester):
    """pytest's log file and live logging hold descriptors the child closes: written to after
    that, they wrote DEBUG lines into accepted sockets (responses "not HTTP", TLS errors), or
    the child died before serving. The child detaches every such writer first."""
    result = pytester.runpytest_subprocess(
        "--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider", "-p", "no:randomly",
        f"--log-file={pytester.path / 'run.log'}", "--log-file-level=DEBUG", "--log-cli-level=DEBUG",
        "-k", "accept- or upgrade- or tunnel-size or h2-extended", timeout=300)
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) > 40 and not outcomes.get("failed") and not outcomes.get("errors"), outcomes


def test_an_embedded_server_process_that_dies_makes_the_rest_inconclusive_not_failed(pytester):
    """The OOM killer (here: SIGKILL) takes the embedded server's process: the cases after it are
    not the gateway's failures, and the run says what happened."""
    pytester.makeconftest("""
        import os
        import signal

        import pytest

        _count = []


        @pytest.fixture(autouse=True)
        def _kill_the_server_at_the_sixth_case(request):
            if "wsgateway_case" in request.fixturenames:
                _count.append(1)
                if len(_count) == 6:
                    server = request.getfixturevalue("wsgateway_suite_server")
                    os.kill(server.pid, signal.SIGKILL)
    """)
    result = pytester.runpytest_subprocess(
        "--rootdir", str(pytester.path), "--confcutdir", str(pytester.path), "-p", "no:cacheprovider", "-rA",
        "--pyargs", "pytest_wsgateway.conformance", "--gateway-concurrency=1", "-k", "(accept- or upgrade- or reject-) and reference-ws] or h2-",
        timeout=300)
    assert result.ret == 1
    outcomes = result.parseoutcomes()
    assert outcomes.get("inconclusive", 0) >= 10 and not outcomes.get("failed"), outcomes  # never the case's failure
    # the HTTP/2 cases (wss://, after the ws:// ones) find no canary: the cause is the process too,
    # not "the target cannot be reached ... check the host and port"
    result.stdout.fnmatch_lines(["reference-ws: * case(s) inconclusive: the embedded reference server's process "
                                 "exited (killed by signal 9); not a verdict on the case",
                                 "reference-wss: 16 case(s) inconclusive: the embedded reference server's process "
                                 "exited (killed by signal 9); not a verdict on the case"])
    assert "check the host and port" not in result.stdout.str()
