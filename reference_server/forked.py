"""The reference server served from a forked child process: the same server, on its own core.

The embedded conformance run puts a few hundred exchanges through one Python process. With the
server on a thread of that process, the suite's client threads and the server take turns on one
interpreter lock; served from a child process, the server runs beside them (on a 2-core machine
the embedded run takes about a fifth less wall time, ``bench/suite_speed.py``).

:class:`ForkedServer` binds every listener in the calling process first (port 0 picks a free port
and the bound socket itself is served, as :meth:`ReferenceServer.start` does), then ``os.fork()``\\ s:
the child serves those sockets with :meth:`ReferenceServer.run` on its own event loop, the parent
keeps only the addresses. Because it forks, the child has the very ``ServerConfig`` the caller
built -- SSL context, API definition, a :class:`~.faults.Fault` object -- with nothing pickled.

Forking is safe only in a process with one thread (a lock another thread held at the fork stays
held in the child) and on Linux (macOS system libraries are not fork-safe):
:func:`fork_unsafe_reason` says why not, and the ``wsgateway_suite_server`` fixture then serves
from a thread with :class:`~.server.ReferenceServer`, as before. The child

* takes ``/dev/null`` as its standard streams and closes every other inherited descriptor but its
  listeners and two pipes (it holds no copy of the caller's files or sockets); before that it
  silences every writer that still names an inherited descriptor -- logging (pytest's log file,
  live logging, capture handlers), ``sys.stdout``/``sys.stderr``, warnings, faulthandler -- so that
  nothing it would print can land in a socket that reuses the number;
* ignores SIGINT (Ctrl-C reaches the whole process group: the parent decides when it stops), stops
  on SIGTERM (:meth:`ForkedServer.stop`), and when the parent is gone: the kernel's parent-death
  signal (``PR_SET_PDEATHSIG``) and the parent's end of a pipe closing, so it never outlives the run;
* never returns into the caller's code: it ends with ``os._exit``.

The counters :attr:`ReferenceServer.handshakes` and :attr:`ReferenceServer.websockets` live in the
child and are not available here; serve from a thread (:class:`~.server.ReferenceServer`) to read them.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import asyncio
import faulthandler
import gc
import logging
import os
import select
import signal
import sys
import time
import warnings

from .server import ReferenceServer, ServerConfig


def fork_unsafe_reason() -> str | None:
    """Why this process should not fork now (one line), or None when it may.

    Forks only on Linux, and only while the process has a single thread (counted by the kernel,
    ``/proc/self/task``: threads started outside :mod:`threading` count too).
    """
    if not sys.platform.startswith("linux"):
        return f"forking is used on Linux only (this is {sys.platform})"
    try:
        threads = len(os.listdir("/proc/self/task"))
    except OSError as exc:
        return f"cannot count this process's threads: {exc.strerror}"
    if threads != 1:
        return f"this process runs {threads} threads (forking is safe with one)"
    return None


class ForkedServer:
    """A :class:`~.server.ReferenceServer` for ``config``, serving from a forked child process.

    Same addresses API as the thread server (``urls``, ``url``, ``address(scheme)``, ``schemes``,
    ``routes``, ``config``); ``pid`` is the child's process id once started. ``start()`` raises
    :class:`RuntimeError` when :func:`fork_unsafe_reason` gives a reason, when the child does not
    serve within ``timeout`` seconds, or when it exits before serving. ``stop()`` is bounded: SIGTERM,
    then SIGKILL after ``timeout`` seconds (default: the config's ``close_timeout`` + 5).
    """

    def __init__(self, config: ServerConfig | None = None) -> None:
        self._server = ReferenceServer(config)
        self.config = self._server.config
        self.pid: int | None = None
        self._watch: int | None = None  # the parent's end of the pipe whose closing stops the child
        self._ended: str | None = None  # how the child ended, once reaped

    @property
    def schemes(self) -> tuple[str, ...]:
        return self._server.schemes

    @property
    def routes(self) -> tuple[str, ...]:
        return self._server.routes

    def address(self, scheme: str) -> tuple[str, int]:
        """(host, port) of the ``scheme`` listener (after start)."""
        return self._server.address(scheme)

    @property
    def urls(self) -> dict[str, str]:
        """scheme -> URL of the first declared route, e.g. ``wss://127.0.0.1:40123/websocket-test``."""
        return self._server.urls

    @property
    def url(self) -> str:
        """URL of the first listener (wss if served)."""
        return self._server.url

    def start(self, timeout: float = 30.0) -> ForkedServer:
        """Bind, fork, return once the child is serving."""
        if self.pid is not None:
            raise RuntimeError("server already started")
        reason = fork_unsafe_reason()
        if reason is not None:
            raise RuntimeError(f"cannot serve from a forked process: {reason}")
        server = self._server.bind()
        ready_r, ready_w = os.pipe()
        watch_r, watch_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; it ends in os._exit (coverage does not see it)
            _child(server, ready_w, watch_r)
        os.close(ready_w)
        os.close(watch_r)
        self.pid, self._watch = pid, watch_w
        server._close_sockets()  # the child serves them; the parent keeps the addresses
        try:
            if not select.select([ready_r], [], [], timeout)[0]:
                raise RuntimeError(f"reference server process did not start serving within {timeout:g} s")
            said = os.read(ready_r, 1024)
            if said != b"1":
                why = said[1:].decode("utf-8", "replace").strip()
                status = self._reap(5.0)
                raise RuntimeError(f"reference server process exited before serving ({status})"
                                   + (f": {why}" if why else ""))
        except BaseException:  # Ctrl-C while waiting included: no child left behind, none unreaped
            self.stop()
            raise
        finally:
            os.close(ready_r)
        return self

    def exit_status(self, wait: float = 0.0) -> str | None:
        """None while the child serves; once it has exited (killed by the OOM killer, say), how, in
        words ("killed by signal 9"). Reaps it then. ``wait``: seconds to keep looking (a dying
        process resets its connections a moment before it can be reaped)."""
        deadline = time.monotonic() + wait
        while self.pid is not None:
            try:
                done, raw = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                done, raw = self.pid, None
            if done:
                self.pid = None
                self._ended = _describe(raw)
            elif time.monotonic() >= deadline:
                return None
            else:
                time.sleep(0.002)
        return self._ended

    @property
    def handshakes(self):
        raise AttributeError("a ForkedServer's counters live in its child process: serve from a thread "
                             "(ReferenceServer, the wsgateway_server fixture) to read handshakes and websockets")

    websockets = handshakes

    def stop(self, timeout: float | None = None) -> None:
        """Stop the child (SIGTERM; SIGKILL after ``timeout`` seconds) and reap it."""
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        self._reap(timeout if timeout is not None else self.config.close_timeout + 5.0)

    def _reap(self, timeout: float) -> str:
        """Wait for the child (SIGKILL after ``timeout`` seconds); how it ended, in words."""
        pid, self.pid = self.pid, None
        if self._watch is not None:
            os.close(self._watch)
            self._watch = None
        if pid is None:
            return "not started"
        deadline = time.monotonic() + timeout
        status = None
        try:
            while status is None:
                done, raw = os.waitpid(pid, os.WNOHANG)
                if done:
                    status = raw
                elif time.monotonic() > deadline:
                    os.kill(pid, signal.SIGKILL)
                    status = os.waitpid(pid, 0)[1]
                else:
                    time.sleep(0.005)
        except ChildProcessError:  # reaped elsewhere (a SIGCHLD handler of the caller's)
            status = None
        self._ended = _describe(status)
        return self._ended

    def __enter__(self) -> ForkedServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _describe(status: int | None) -> str:
    """A wait status in words."""
    if status is None:
        return "exit status unknown"
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.WEXITSTATUS(status)}"


def _silence() -> None:  # pragma: no cover - runs in the child
    """Detach every writer that holds an inherited descriptor: the descriptors are about to close
    and their numbers to be reused by accepted sockets."""
    logging.disable(logging.CRITICAL)
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        if isinstance(logger, logging.Logger):
            logger.handlers = []  # dropped, never flushed or closed (gc.freeze keeps them as they are)
    warnings.simplefilter("ignore")
    if faulthandler.is_enabled():
        faulthandler.disable()
    faulthandler.cancel_dump_traceback_later()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    quiet = open(1, "w", closefd=False)  # noqa: SIM115 - fd 1 is /dev/null now, and stays open
    sys.stdout = sys.stderr = sys.__stdout__ = sys.__stderr__ = quiet
    sys.stdin = sys.__stdin__ = open(0, closefd=False)  # noqa: SIM115


def _die_with_the_parent(parent: int) -> None:  # pragma: no cover - runs in the child
    """SIGTERM when the process that forked this one dies (Linux ``PR_SET_PDEATHSIG``)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # the pipe still tells
    if os.getppid() != parent:  # it died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _child(server: ReferenceServer, ready: int, watch: int) -> None:  # pragma: no cover - runs in the child
    """The child's whole life: serve ``server``'s bound listeners until told to stop, then exit."""
    code = 1
    try:
        parent = os.getppid()
        gc.freeze()  # the caller's objects are never collected here (no finalizer closes a reused fd)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))  # until the loop takes SIGTERM over
        _silence()
        keep = {0, 1, 2, ready, watch, *(sock.fileno() for sock in server._sockets.values())}
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd not in keep:
                try:
                    os.close(fd)
                except OSError:
                    pass  # the descriptor of the listing itself, already closed
        _die_with_the_parent(parent)
        asyncio.run(_serve(server, ready, watch))
        code = 0
    except BaseException as exc:  # told to the parent if it still waits for "ready"
        try:
            os.write(ready, b"0" + f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")[:900])
        except OSError:
            pass
    finally:
        os._exit(code)


async def _serve(server: ReferenceServer, ready: int, watch: int) -> None:  # pragma: no cover - in the child
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_reader(watch, stop.set)  # readable at EOF: the parent's end closed (stop(), or it died)
    await server.run(stop=stop, ready=lambda _: os.write(ready, b"1"))
