"""A real browser's opinion: does headless Chromium open a WebSocket to this URL, with these subprotocols?

:func:`probe` serves a tiny page from a loopback ``http.server`` (port 0), starts Chromium on it
with a fresh profile, and the page runs ``new WebSocket(url, protocols)`` for each :class:`Probe`
in turn, reporting open / refused / timeout back with ``fetch('/result')``. Chromium's own reason
for a refusal ("Error during WebSocket handshake: ...") is read from its console log.

:func:`client_verdict` is the suite's side of the same question: the catalogue's browser
handshake cases (family ``browser-handshake``: every response check a browser applies), run
as one browser-shaped request carrying the same subprotocol offer. The two must agree.

Imported only by the browser tests and the ``--gateway-browser`` probe; nothing here runs when
the plugin loads.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
#: What every Chromium run needs: no sandbox (containers, root), and no traffic of its own
#: (without the background-networking flags it opens connections that get refused).
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                  "--disable-extensions", "--disable-default-apps", "--mute-audio", "--enable-logging=stderr",
                  "--v=0")
INSTALL_HINT = ("no Chromium found: install one (Debian/Ubuntu: apt-get install -y chromium; "
                "for wss with --gateway-ca also libnss3-tools) or point to one with "
                "--gateway-browser-path /path/to/chrome (env WSGATEWAY_BROWSER)")
#: The family of catalogue cases that together are "what a browser checks in the 101".
VERDICT_FAMILY = "browser-handshake"
STARTUP_ALLOWANCE = 30.0  # seconds for Chromium to start and load the page, on top of the probes


class BrowserError(RuntimeError):
    """Chromium could not be run (not a verdict on the target)."""


def find_chromium(explicit: str | None = None) -> str | None:
    """The Chromium to use: ``explicit``, else the one ``$WSGATEWAY_BROWSER`` names
    (:func:`pytest_wsgateway.options.browser_env`), else the first on PATH; None if none is found."""
    from .options import browser_env

    for candidate in (explicit, browser_env()[1]):
        if candidate:
            found = shutil.which(candidate) or (candidate if os.access(candidate, os.X_OK) else None)
            return found
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclasses.dataclass(frozen=True)
class Probe:
    """One ``new WebSocket(url, protocols)`` in the page."""

    url: str
    protocols: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class BrowserResult:
    probe: Probe
    #: "open" (the open event fired), "refused" (error/close before open) or "timeout".
    state: str
    protocol: str = ""  # WebSocket.protocol after open
    extensions: str = ""  # WebSocket.extensions after open
    close_code: int | None = None
    reason: str = ""  # Chromium's console message for a refusal

    @property
    def opened(self) -> bool:
        return self.state == "open"

    def describe(self) -> str:
        if self.opened:
            extra = [f"protocol {self.protocol!r}"] if self.protocol else []
            extra += [f"extensions {self.extensions!r}"] if self.extensions else []
            return "open" + (f" ({', '.join(extra)})" if extra else "")
        return self.state + (f": {self.reason}" if self.reason else "")


_PAGE = """<!doctype html><meta charset="utf-8"><title>wsgateway browser probe</title>
<script>
const PROBES = %(probes)s, LIMIT_MS = %(limit_ms)d, WARM = %(warm)s;
function one(probe) {
  return new Promise((resolve) => {
    let ws, opened = false, done = false, info = {};
    const finish = (state, code) => {
      if (done) return; done = true; clearTimeout(timer);
      resolve(Object.assign({state: state, code: code}, info));
    };
    const timer = setTimeout(() => { finish(opened ? "open" : "timeout", null); try { ws.close(); } catch (e) {} },
                             LIMIT_MS);
    try { ws = new WebSocket(probe.url, probe.protocols); }
    catch (e) { finish("refused", null); info.reason = String(e); return; }
    ws.onopen = () => { opened = true; info.protocol = ws.protocol; info.extensions = ws.extensions; ws.close(1000); };
    ws.onclose = (event) => finish(opened ? "open" : "refused", event.code);
  });
}
(async () => {
  for (const origin of WARM) {  // an HTTP/2 connection that a wss:// WebSocket may then share (RFC 8441)
    try { await fetch(origin + "/", {mode: "no-cors", credentials: "include", cache: "no-store"}); } catch (e) {}
  }
  for (let i = 0; i < PROBES.length; i++) {
    const result = await one(PROBES[i]);
    await fetch("/result?i=" + i, {method: "POST", body: JSON.stringify(result)});
  }
})();
</script>
"""


class _Collector(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, page: bytes, expected: int):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.page, self.expected = page, expected
        self.results: dict[int, dict] = {}
        self.complete = threading.Event()


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Collector

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        body, status = (self.server.page, 200) if self.path == "/" else (b"", 404)
        self._reply(status, body, "text/html; charset=utf-8")

    def do_POST(self) -> None:  # noqa: N802
        declared = (self.headers.get("Content-Length") or "0").strip()
        length = int(declared) if declared.isascii() and declared.isdigit() else 0
        data = self.rfile.read(min(length, 65536))
        match = re.fullmatch(r"/result\?i=(\d+)", self.path)
        if match:
            with contextlib.suppress(ValueError):
                self.server.results[int(match.group(1))] = json.loads(data or b"{}")
            if len(self.server.results) >= self.server.expected:
                self.server.complete.set()
        self._reply(204 if match else 404, b"", "text/plain")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def trust_ca(home: str, ca_pem: str, certutil: str | None = None, timeout: float = 30.0) -> None:
    """Make ``ca_pem`` a trusted root for a Chromium run with ``HOME=home`` (its NSS database)."""
    certutil = certutil or shutil.which("certutil")
    if certutil is None:
        raise BrowserError("certutil not found: install libnss3-tools to let Chromium trust --gateway-ca")
    database = os.path.join(home, ".pki", "nssdb")
    os.makedirs(database, exist_ok=True)
    for argv in ([certutil, "-d", f"sql:{database}", "-N", "--empty-password"],
                 [certutil, "-d", f"sql:{database}", "-A", "-t", "C,,", "-n", "wsgateway", "-i", ca_pem]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env={**os.environ, "HOME": home})
        if done.returncode != 0:
            raise BrowserError(f"{' '.join(argv[:4])}... failed: {(done.stderr or done.stdout).strip()[:300]}")


_FAILED = re.compile(r"WebSocket connection to '([^']*)' failed: ?(.*)", re.S)


class _DevTools:
    """Chromium's DevTools protocol over ``--remote-debugging-pipe`` (fd 3 in, fd 4 out), just
    enough to collect the page's console messages and to navigate once listening."""

    def __init__(self, to_chromium: int, from_chromium: int):
        self._out, self._in = to_chromium, from_chromium
        self._next_id = 0
        self._replies: dict[int, dict] = {}
        self._cond = threading.Condition()
        self.messages: list[str] = []  # console/log texts, in order
        self.closed = False
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    def _read_loop(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = os.read(self._in, 65536)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                with contextlib.suppress(ValueError):
                    self._dispatch(json.loads(raw))
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    def _dispatch(self, message: dict) -> None:
        method, params = message.get("method"), message.get("params") or {}
        with self._cond:
            if method == "Log.entryAdded":
                self.messages.append(str(params.get("entry", {}).get("text", "")))
            elif method == "Runtime.consoleAPICalled":
                self.messages.append(" ".join(str(arg.get("value", "")) for arg in params.get("args", [])))
            elif "id" in message:
                self._replies[message["id"]] = message
            self._cond.notify_all()

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 10.0) -> dict:
        with self._cond:
            self._next_id += 1
            ident = self._next_id
        message = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self._out, json.dumps(message).encode() + b"\0")
        except OSError as exc:
            raise BrowserError(f"DevTools pipe closed ({exc})") from None
        deadline = time.monotonic() + timeout
        with self._cond:
            while ident not in self._replies:
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    raise BrowserError(f"no DevTools answer to {method} within {timeout:.0f} s")
                self._cond.wait(left)
            reply = self._replies.pop(ident)
        if "error" in reply:
            raise BrowserError(f"DevTools {method}: {reply['error'].get('message')}")
        return reply.get("result") or {}


def _refusal_reasons(messages: list[str]) -> dict[str, list[str]]:
    """Chromium's console messages about failed WebSocket connections, per URL, in order."""
    reasons: dict[str, list[str]] = {}
    for text in messages:
        match = _FAILED.match(text)
        if match:
            reasons.setdefault(match.group(1), []).append(" ".join(match.group(2).split()))
    return reasons


def probe(probes: Sequence[Probe], *, chromium: str, ca_pem: str | None = None, insecure: bool = False,
          timeout: float = 10.0, warm_http2: bool = False) -> list[BrowserResult]:
    """Run each probe in one headless Chromium, in order; every step is bounded by ``timeout``.

    ``ca_pem`` is added as a trusted root to a fresh NSS database (certutil, from libnss3-tools);
    ``insecure`` uses ``--ignore-certificate-errors`` instead (for ``--gateway-insecure`` only).
    ``warm_http2``: before the WebSockets the page fetches each ``wss://`` origin as ``https://``
    (credentialed, like a page of that site): Chromium opens a ``wss://`` WebSocket over HTTP/2
    (RFC 8441) only on an HTTP/2 connection it already has, so without this it speaks HTTP/1.1.
    """
    if not probes:
        return []
    probes = list(probes)
    warm = list(dict.fromkeys("https://" + p.url.split("://", 1)[1].split("/", 1)[0]
                              for p in probes if warm_http2 and p.url.startswith("wss://")))
    page = _PAGE % {"probes": json.dumps([{"url": p.url, "protocols": list(p.protocols)} for p in probes]),
                    "limit_ms": int(timeout * 1000), "warm": json.dumps(warm)}
    collector = _Collector(page.encode(), len(probes))
    server = threading.Thread(target=collector.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    server.start()
    messages: list[str] = []
    with tempfile.TemporaryDirectory(prefix="wsgateway-chromium-") as home:
        try:
            if ca_pem:
                trust_ca(home, ca_pem, timeout=timeout + STARTUP_ALLOWANCE)
            log_path = os.path.join(home, "chromium.log")
            argv = [chromium, *CHROMIUM_FLAGS, "--remote-debugging-pipe",
                    f"--user-data-dir={os.path.join(home, 'profile')}",
                    *(["--ignore-certificate-errors"] if insecure else []), "about:blank"]
            env = {**os.environ, "HOME": home, "XDG_CONFIG_HOME": os.path.join(home, "config"),
                   "XDG_CACHE_HOME": os.path.join(home, "cache")}
            with _running(argv, env, log_path) as (proc, devtools):
                page_target = _wait_for_page(devtools, STARTUP_ALLOWANCE)
                session = devtools.call("Target.attachToTarget", {"targetId": page_target, "flatten": True})["sessionId"]
                for method in ("Log.enable", "Runtime.enable"):
                    devtools.call(method, session=session)
                devtools.call("Page.navigate", {"url": f"http://127.0.0.1:{collector.server_address[1]}/"},
                              session=session, timeout=STARTUP_ALLOWANCE)
                if not collector.complete.wait(STARTUP_ALLOWANCE + len(probes) * (timeout + 2)) \
                        and proc.poll() is not None:
                    raise BrowserError(f"Chromium exited with status {proc.returncode}: {_tail(log_path)}")
                with contextlib.suppress(BrowserError):
                    devtools.call("Runtime.evaluate", {"expression": "1"}, session=session)  # flush console events
                messages = list(devtools.messages)
        finally:
            collector.shutdown()
            collector.server_close()
            server.join(5)
    reasons = _refusal_reasons(messages)
    results = []
    for index, item in enumerate(probes):
        raw = collector.results.get(index)
        if raw is None:
            results.append(BrowserResult(item, "timeout", reason="the page reported nothing in time"))
            continue
        state = raw.get("state", "timeout")
        reason = raw.get("reason") or ""
        if state == "refused" and not reason and reasons.get(item.url):
            reason = reasons[item.url].pop(0)
        results.append(BrowserResult(item, state, raw.get("protocol") or "", raw.get("extensions") or "",
                                     raw.get("code"), reason))
    return results


def _wait_for_page(devtools: _DevTools, timeout: float) -> str:
    """The target id of Chromium's first page (the about:blank it starts with)."""
    deadline = time.monotonic() + timeout
    while True:
        pages = [t for t in devtools.call("Target.getTargets", timeout=timeout)["targetInfos"] if t.get("type") == "page"]
        if pages:
            return pages[0]["targetId"]
        if time.monotonic() > deadline:
            raise BrowserError("Chromium opened no page")
        devtools.call("Target.createTarget", {"url": "about:blank"}, timeout=timeout)


@contextlib.contextmanager
def _running(argv: list[str], env: dict[str, str], log_path: str) -> Iterator[tuple[subprocess.Popen, _DevTools]]:
    """Start Chromium in its own process group with the DevTools pipe on fds 3 and 4."""
    to_read, to_chromium = os.pipe()  # Chromium reads commands on fd 3
    from_chromium, to_write = os.pipe()  # and writes replies and events on fd 4

    def pipes_to_3_and_4() -> None:
        high_in, high_out = os.dup(to_read), os.dup(to_write)
        os.dup2(high_in, 3)
        os.dup2(high_out, 4)

    with open(log_path, "wb") as log:
        try:
            proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, pass_fds=(3, 4), preexec_fn=pipes_to_3_and_4)
        except OSError as exc:
            for fd in (to_read, to_chromium, from_chromium, to_write):
                os.close(fd)
            raise BrowserError(f"cannot run {argv[0]}: {exc}") from None
    os.close(to_read)
    os.close(to_write)
    devtools = _DevTools(to_chromium, from_chromium)
    try:
        yield proc, devtools
    finally:
        with contextlib.suppress(BrowserError):
            devtools.call("Browser.close", timeout=5)
        _stop(proc)
        os.close(to_chromium)
        devtools._reader.join(5)
        os.close(from_chromium)


def _stop(proc: subprocess.Popen) -> None:
    """Wait (bounded) for Chromium to exit, SIGTERM then SIGKILL its process group if it does not."""
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=10)
            break
        except subprocess.TimeoutExpired:
            continue
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # helpers (zygote, renderers) left in the group


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def _tail(path: str) -> str:
    return " ".join(_read(path)[-600:].split())


# --- the suite's side: the same question answered by the catalogue ---------------------------------


@dataclasses.dataclass
class Verdict:
    """What the suite's browser checks say about one browser-shaped request with one offer."""

    protocols: tuple[str, ...]
    outcome: object  # runner.Outcome

    @property
    def opens(self) -> bool:
        return self.outcome.passed

    def describe(self) -> str:
        if self.opens:
            return "open"
        if self.outcome.connect_error:
            return f"refuse: {self.outcome.connect_error}"
        first = self.outcome.findings[0]
        return f"refuse: expected {first.expected}; got {first.actual}"


def verdict_case(protocols: Sequence[str] = (), catalogue: Sequence | None = None):
    """One case judging a browser-shaped request offering ``protocols`` with every check of the
    ``browser-handshake`` family (the base case and its ``also`` siblings), on one exchange."""
    from .cases import shipped_catalogue

    family = [case for case in catalogue or shipped_catalogue()
              if case.id == VERDICT_FAMILY or case.id.startswith(VERDICT_FAMILY + "-")]
    base = next(case for case in family if case.id == VERDICT_FAMILY)
    expect, seen = [], set()
    for case in family:
        for name, params in case.expect:
            if name not in seen:
                seen.add(name)
                expect.append((name, params))
    request = base.request
    if protocols:
        request = dataclasses.replace(request, add=request.add + (("Sec-WebSocket-Protocol", ", ".join(protocols)),))
    return dataclasses.replace(base, id=f"{VERDICT_FAMILY}-verdict", request=request, expect=tuple(expect))


def client_verdict(target, protocols: Sequence[str] = (), catalogue: Sequence | None = None,
                   send: Callable | None = None) -> Verdict:
    """The suite's client-side verdict for a browser offering ``protocols`` to ``target`` (a
    :class:`~pytest_wsgateway.targets.Target`, whose own settings -- headers, origin -- apply).
    ``send(case, target)`` makes the exchange (in the suite: the executor's, under the run's rate
    cap and ``Retry-After`` handling); by default ``runner.run_case`` directly."""
    from .runner import run_case

    protocols = tuple(protocols)
    return Verdict(protocols, (send or run_case)(verdict_case(protocols, catalogue), target))
