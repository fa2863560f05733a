"""Real gateways (nginx, HAProxy, Caddy) on loopback, in front of the reference server.

Each gateway is a foreground child process started from a configuration generated into a
temporary directory (pid file, logs, temp and state paths all inside it; nothing is written
elsewhere), terminating TLS with a trustme certificate and proxying to a plain ``ws://``
reference server.

Ports. A gateway cannot take a pre-bound socket, so :func:`free_port` binds port 0, reads the
number and closes the socket before the gateway binds it. Another process may take the port in
between (a real, if rare, race). It is handled, not ignored: if the gateway then fails to bind
("Address already in use"), or if the listener on that port does not belong to our gateway's
process group, the gateway is stopped and started once more on a fresh port.

Readiness. We poll a TCP connect to the port with a bounded deadline, pausing between attempts
by waiting on the process itself (so a gateway that dies is noticed at once); no fixed sleeps.

Lifetime. Every gateway runs in its own session (``start_new_session``), so its process group
id is the leader's pid and covers nginx's worker too. Stopping sends SIGTERM to the leader,
waits (bounded), then SIGKILLs the group; :func:`leftover_processes` lists any process still in
a group started here, so tests can prove that nothing outlives them. Where util-linux
``setpriv`` exists, the leader is also started with ``--pdeathsig KILL``: if the Python process
itself is killed (a CI timeout), the kernel kills the gateway too.

The second half of the module runs the conformance suite (in-process pytest, exactly what a user
runs) against a list of URLs and records one verdict per (case, target); the gateway and library
tests and ``docs/gen_matrix.py`` share it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import trustme

from tests.harness import reference_server

from pytest_wsgateway.reference_server import ServerConfig

HOST = "127.0.0.1"
PATH = "/websocket-test"
READY_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
BINARIES = {"nginx": "nginx", "haproxy": "haproxy", "caddy": "caddy"}
#: Process groups (== leader pids) of every gateway started in this Python process.
STARTED_GROUPS: list[int] = []


class GatewayError(RuntimeError):
    """A gateway did not start; the message carries the tail of its log."""


@dataclasses.dataclass(frozen=True)
class GatewayKind:
    name: str  # the target id, also the expected-verdicts file name
    binary: str
    title: str  # one line for docs and the matrix


KINDS = {
    "nginx-map-recipe": GatewayKind("nginx-map-recipe", "nginx",
                                    "nginx 1.22 with the common `map $http_upgrade $connection_upgrade` recipe"),
    "nginx-no-upgrade": GatewayKind("nginx-no-upgrade", "nginx",
                                    "nginx 1.22 misconfigured: proxy_pass without Upgrade/Connection forwarding"),
    "haproxy": GatewayKind("haproxy", "haproxy", "HAProxy 2.6, `mode http`, TLS on the frontend"),
    "caddy": GatewayKind("caddy", "caddy", "Caddy 2.6 `reverse_proxy` with an explicit `tls cert key`"),
}


#: HTTP/2 peers (the ``h2-`` family, tests/interop/test_http2_peers.py) -> their binary, each with an
#: expected-verdicts file. The ``-h2`` ones are gateways (not in :data:`KINDS`: the HTTP/1.1 matrix does
#: not run them) with an HTTP/2 TLS listener in front of the reference server's ws:// listener:
#: ``haproxy-h2`` is ``haproxy`` with ``alpn h2,http/1.1``, ``nginx-h2`` the map recipe with ``listen
#: ... ssl http2``, ``caddy-h2`` the ``caddy`` configuration (its listener offers h2 already).
H2_PEERS = {"hypercorn": "hypercorn", "haproxy-h2": "haproxy", "apache-h2": "apache2", "nghttpx-h2": "nghttpx",
            "nginx-h2": "nginx", "caddy-h2": "caddy"}


#: The HTTP/1.1 suite through an HTTP/2 gateway's TLS listener (ALPN offers http/1.1 too): expected-verdicts
#: file name -> the gateway kind (tests/interop/test_http2_peers.py).
H11_VIA_H2 = {"apache": "apache-h2", "nghttpx": "nghttpx-h2"}
#: The HTTP/2 peers that do not offer RFC 8441 (controls): the family must skip, "RFC 8441 not offered".
H2_CONTROLS = ("nginx-h2", "caddy-h2")
#: One line per HTTP/2 gateway, for docs.
H2_TITLES = {
    "haproxy-h2": "HAProxy 2.6, `bind ... ssl crt ... alpn h2,http/1.1`",
    "apache-h2": "Apache 2.4 (mod_http2 `H2WebSockets on`, `ProxyPass ... upgrade=websocket`)",
    "nghttpx-h2": "nghttpx 1.52 (Debian `nghttp2-proxy`), TLS frontend, `proto=http/1.1` backend",
    "nginx-h2": "nginx 1.22, `listen ... ssl http2` with the `map $http_upgrade` recipe",
    "caddy-h2": "Caddy 2.6 `reverse_proxy` (`protocols h1 h2`, the `caddy` configuration)",
}
#: The Debian package that installs each binary (.ci/run installs them all).
PACKAGES = {"nginx": "nginx", "haproxy": "haproxy", "caddy": "caddy", "apache2": "apache2", "nghttpx": "nghttp2-proxy"}


def missing_binary(kind: str) -> str | None:
    """Why ``kind`` cannot run here (its binary is not installed), or None."""
    binary = KINDS[kind].binary if kind in KINDS else H2_PEERS[kind]
    if shutil.which(binary) or os.path.exists(f"/usr/sbin/{binary}"):
        return None
    return f"{binary} is not installed (Debian: apt-get install -y {PACKAGES.get(binary, binary)})"


def require_binary(kind: str) -> None:
    """Skip the calling test where ``kind``'s binary is missing -- but fail it under ``CI=true``: CI
    installs every gateway (.ci/run), so a missing one there is a broken set-up, not a reason to
    report green without having run."""
    import pytest

    reason = missing_binary(kind)
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI=true, where it must be installed", pytrace=False)
    pytest.skip(reason)


def _binary(name: str) -> str:
    return shutil.which(name) or f"/usr/sbin/{name}"


# --- TLS material ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TlsFiles:
    ca: str  # the CA certificate (for --gateway-ca)
    cert: str  # leaf + chain
    key: str
    combined: str  # key + chain in one file (HAProxy's crt)


def write_tls_files(ca: trustme.CA, directory: Path) -> TlsFiles:
    """A server certificate for 127.0.0.1 / localhost / ::1, written into ``directory`` (mode 0700)."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    leaf = ca.issue_cert("127.0.0.1", "localhost", "::1")
    files = TlsFiles(str(directory / "ca.pem"), str(directory / "cert.pem"), str(directory / "key.pem"),
                     str(directory / "combined.pem"))
    ca.cert_pem.write_to_path(files.ca)
    with open(files.cert, "wb") as handle:
        for blob in leaf.cert_chain_pems:
            handle.write(blob.bytes())
    leaf.private_key_pem.write_to_path(files.key)
    leaf.private_key_and_cert_chain_pem.write_to_path(files.combined)
    for path in (files.key, files.combined):
        os.chmod(path, 0o600)
    return files


# --- configurations -------------------------------------------------------------------------

_NGINX_COMMON = """\
worker_processes 1;
user root;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
{maps}
    server {{
        listen {host}:{port} ssl;
        ssl_certificate {tls.cert};
        ssl_certificate_key {tls.key};
        location {path} {{
            proxy_pass http://{host}:{upstream};
{proxy}
        }}
    }}
}}
"""

# The recipe from nginx's own blog post "WebSocket proxying" and countless tutorials.
_NGINX_MAP_RECIPE = dict(
    maps="""\
    map $http_upgrade $connection_upgrade {
        default upgrade;
        ''      close;
    }""",
    proxy="""\
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_read_timeout 60s;""",
)

# The classic mistake: an HTTP/1.1 reverse proxy without the two lines that forward the upgrade
# (nginx drops the hop-by-hop Upgrade header and sends "Connection: close" upstream).
_NGINX_NO_UPGRADE = dict(maps="", proxy="""\
            proxy_http_version 1.1;
            proxy_set_header Host $host;""")

_HAPROXY = """\
global
    maxconn 256

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout tunnel 60s

frontend gateway
    bind {host}:{port} ssl crt {tls.combined} alpn http/1.1
    default_backend reference

backend reference
    server reference {host}:{upstream}
"""

_CADDY = """\
{{
    admin off
    auto_https off
    storage file_system {dir}/data
    servers {{
        protocols h1 h2
    }}
}}

https://{host}:{port} {{
    bind {host}
    tls {tls.cert} {tls.key}
    reverse_proxy {host}:{upstream}
}}
"""


# Apache 2.4 (Debian) as an HTTP/2 frontend: mod_http2 with RFC 8441 (`H2WebSockets on`, Apache >= 2.4.58),
# mod_proxy_http's `upgrade=websocket` to the HTTP/1.1 backend. Every path is inside DIR; the workers
# run as www-data (Apache refuses to run them as root), only the root parent reads the key.
_APACHE = """\
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authn_core_module /usr/lib/apache2/modules/mod_authn_core.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule ssl_module /usr/lib/apache2/modules/mod_ssl.so
LoadModule http2_module /usr/lib/apache2/modules/mod_http2.so
LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so
LoadModule proxy_http_module /usr/lib/apache2/modules/mod_proxy_http.so
LoadModule proxy_wstunnel_module /usr/lib/apache2/modules/mod_proxy_wstunnel.so
ServerRoot {dir}
ServerName {host}
DefaultRuntimeDir {dir}/run
PidFile {dir}/apache2.pid
ErrorLog {dir}/error.log
LogLevel warn
User www-data
Group www-data
Listen {host}:{port}
Protocols h2 http/1.1
H2WebSockets on
<VirtualHost {host}:{port}>
    SSLEngine on
    SSLCertificateFile {tls.cert}
    SSLCertificateKeyFile {tls.key}
    ProxyPass {path} http://{host}:{upstream}{path} upgrade=websocket
    ProxyTimeout 60
</VirtualHost>
"""

# nghttpx (Debian nghttp2-proxy): a TLS frontend (ALPN h2, http/1.1) in front of an HTTP/1.1 backend.
# Its error log stays on stderr (no errorlog-file): the harness reads "already in use" there.
_NGHTTPX = """\
frontend={host},{port}
backend={host},{upstream};;proto=http/1.1
private-key-file={tls.key}
certificate-file={tls.cert}
pid-file={dir}/nghttpx.pid
workers=1
no-ocsp=yes
"""


def _command(kind: str, directory: Path, port: int, upstream: int, tls: TlsFiles,
             timeouts: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """Write ``kind``'s configuration into ``directory``; return its argv and environment.
    ``timeouts`` replaces configuration lines (e.g. ``{"proxy_read_timeout 60s": "proxy_read_timeout 1s"}``)."""
    values = dict(dir=directory, host=HOST, port=port, upstream=upstream, tls=tls, path=PATH)
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "HOME": str(directory / "home"),
           "XDG_CONFIG_HOME": str(directory / "config"), "XDG_DATA_HOME": str(directory / "data"),
           "XDG_CACHE_HOME": str(directory / "cache"), "TMPDIR": str(directory / "tmp")}
    for sub in ("home", "config", "data", "cache", "tmp"):
        (directory / sub).mkdir(exist_ok=True)
    def write(name: str, text: str) -> None:
        for line, replacement in (timeouts or {}).items():
            if line not in text:
                raise ValueError(f"{kind}: no line {line!r} to replace")
            text = text.replace(line, replacement)
        (directory / name).write_text(text)

    if kind.startswith("nginx"):
        extra = _NGINX_NO_UPGRADE if kind == "nginx-no-upgrade" else _NGINX_MAP_RECIPE
        config = _NGINX_COMMON if kind != "nginx-h2" else _NGINX_COMMON.replace(" ssl;", " ssl http2;")
        write("nginx.conf", config.format(**values, **extra))
        argv = [_binary("nginx"), "-p", str(directory), "-c", str(directory / "nginx.conf"),
                "-e", str(directory / "error.log"), "-g", "daemon off;"]
    elif kind in ("haproxy", "haproxy-h2"):
        config = _HAPROXY if kind == "haproxy" else _HAPROXY.replace("alpn http/1.1", "alpn h2,http/1.1")
        write("haproxy.cfg", config.format(**values))
        argv = [_binary("haproxy"), "-f", str(directory / "haproxy.cfg"), "-db"]
    elif kind == "apache-h2":
        (directory / "run").mkdir(exist_ok=True)
        write("apache2.conf", _APACHE.format(**values))
        argv = [_binary("apache2"), "-f", str(directory / "apache2.conf"), "-DFOREGROUND"]
    elif kind == "nghttpx-h2":
        write("nghttpx.conf", _NGHTTPX.format(**values))
        argv = [_binary("nghttpx"), f"--conf={directory / 'nghttpx.conf'}"]
    elif kind in ("caddy", "caddy-h2"):  # (Caddy's listener offers h2 already: `protocols h1 h2`)
        write("Caddyfile", _CADDY.format(**values))
        argv = [_binary("caddy"), "run", "--config", str(directory / "Caddyfile"), "--adapter", "caddyfile"]
    else:
        raise ValueError(f"unknown gateway kind {kind!r}")
    return argv, env


def rendered_config(kind: str) -> str:
    """``kind``'s configuration with placeholder paths and ports (for docs/gateways.md, docs/http2.md)."""
    tls = TlsFiles("DIR/ca.pem", "DIR/cert.pem", "DIR/key.pem", "DIR/combined.pem")
    values = dict(dir="DIR", host=HOST, port="PORT", upstream="UPSTREAM", tls=tls, path=PATH)
    if kind.startswith("nginx"):
        extra = _NGINX_NO_UPGRADE if kind == "nginx-no-upgrade" else _NGINX_MAP_RECIPE
        config = _NGINX_COMMON if kind != "nginx-h2" else _NGINX_COMMON.replace(" ssl;", " ssl http2;")
        return config.format(**values, **extra)
    if kind == "haproxy-h2":
        return _HAPROXY.replace("alpn http/1.1", "alpn h2,http/1.1").format(**values)
    return {"haproxy": _HAPROXY, "caddy": _CADDY, "caddy-h2": _CADDY, "apache-h2": _APACHE,
            "nghttpx-h2": _NGHTTPX}[kind].format(**values)


# --- processes ------------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port that was free a moment ago (see the module docstring for the race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _group_members(group: int) -> list[int]:
    """Live (non-zombie) pids whose process group is ``group`` (Linux /proc)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="latin-1") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state != "Z":
            members.append(int(entry))
    return members


def leftover_processes() -> list[int]:
    """Pids of every still-running process in a gateway process group started here."""
    return sorted(pid for group in STARTED_GROUPS for pid in _group_members(group))


def _listener_inodes(port: int) -> set[str]:
    wanted = f"{socket.htonl(0x7F000001):08X}:{port:04X}"
    inodes = set()
    with contextlib.suppress(OSError), open("/proc/net/tcp", encoding="ascii") as handle:
        for line in handle.readlines()[1:]:
            fields = line.split()
            if fields[1] == wanted and fields[3] == "0A":  # 0A = LISTEN
                inodes.add(fields[9])
    return inodes


def _listens_in_group(port: int, group: int) -> bool:
    """Whether the listener on 127.0.0.1:``port`` is a socket of a process in ``group``.

    Without Linux's /proc there is no way to tell; the connect that succeeded has to do.
    """
    if not os.path.exists("/proc/net/tcp"):
        return True
    inodes = {f"socket:[{inode}]" for inode in _listener_inodes(port)}
    for pid in _group_members(group):
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                        return True
    return False


def _connects(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0):
            return True
    except OSError:
        return False


class _PortTaken(Exception):
    pass


def _wait_ready(label: str, proc: subprocess.Popen, port: int, log: Path, deadline: float) -> None:
    """Poll a TCP connect until the gateway listens; raise if it dies or the deadline passes."""
    while True:
        if _connects(port):
            if _listens_in_group(port, proc.pid):
                return
            if proc.poll() is not None or time.monotonic() > deadline:
                raise _PortTaken(f"port {port} is held by another process")
        if proc.poll() is not None:
            text = log.read_text(errors="replace")
            if "already in use" in text.lower():
                raise _PortTaken(text[-2000:])
            raise GatewayError(f"{label} exited with status {proc.returncode}:\n{text[-2000:]}")
        if time.monotonic() > deadline:
            raise GatewayError(f"{label} did not listen on {HOST}:{port} within {READY_TIMEOUT:.0f} s:\n"
                               + log.read_text(errors="replace")[-2000:])
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.05)  # a pause that also notices an early exit


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM the leader, wait (bounded), then SIGKILL whatever is left in its process group."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
    if _group_members(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _group_members(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.02)  # reaped by init once the leader is gone; bounded


@dataclasses.dataclass
class RunningGateway:
    kind: str
    port: int
    proc: subprocess.Popen
    directory: Path
    tls: TlsFiles

    @property
    def url(self) -> str:
        return f"wss://{HOST}:{self.port}{PATH}"

    @property
    def pids(self) -> list[int]:
        return _group_members(self.proc.pid)


@contextlib.contextmanager
def gateway(kind: str, upstream_port: int, directory: Path, tls: TlsFiles,
            timeouts: dict[str, str] | None = None) -> Iterator[RunningGateway]:
    """Run gateway ``kind`` on a free loopback port in front of ``upstream_port``; stop it afterwards.
    ``timeouts``: configuration lines replaced (the idle measurements, tests/interop/test_gateway_idle.py)."""
    directory.mkdir(parents=True, exist_ok=True)
    for attempt in (1, 2):
        port = free_port()
        argv, env = _command(kind, directory, port, upstream_port, tls, timeouts)
        log = directory / f"{kind}-{attempt}.log"
        if shutil.which("setpriv"):
            argv = [shutil.which("setpriv"), "--pdeathsig", "KILL", "--", *argv]
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, cwd=directory, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        STARTED_GROUPS.append(proc.pid)
        try:
            _wait_ready(kind, proc, port, log, time.monotonic() + READY_TIMEOUT)
        except _PortTaken:
            stop_process(proc)
            if attempt == 2:
                raise GatewayError(f"{kind}: port taken twice in a row") from None
            continue
        except BaseException:
            stop_process(proc)
            raise
        break
    running = RunningGateway(kind, port, proc, directory, tls)
    try:
        yield running
    finally:
        stop_process(proc)


@contextlib.contextmanager
def reference_upstream() -> Iterator[int]:
    """A plain ws:// reference server on loopback; yields its port (the gateways' upstream). It
    negotiates permessage-deflate when offered, as most backends do: the gateways relay the offer
    and the compressed frames (the tunnel-deflate-* cases)."""
    with reference_server(ServerConfig(host=HOST, port=0, schemes=("ws",), permessage_deflate=True)) as server:
        yield server.address("ws")[1]


# --- running the suite ----------------------------------------------------------------------

SUITE_ARGS = ("--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider", "--gateway-echo")


@dataclasses.dataclass(frozen=True)
class Verdict:
    outcome: str  # "passed", "failed", "inconclusive" or "skipped"
    message: str  # the failure message or the skip reason ("" when passed)


class VerdictRecorder:
    """A pytest plugin recording one :class:`Verdict` per (test id, target id) of the suite.

    The test id is the part of the parametrized id before ``@``: the case id for
    ``test_conformance`` (``reject-http10@<target>``), the test's own name for the others
    (``origin-policy@<target>``). A failure in any phase makes the verdict "failed".
    """

    def __init__(self) -> None:
        self.verdicts: dict[tuple[str, str], Verdict] = {}

    def pytest_runtest_logreport(self, report) -> None:
        if "[" not in report.nodeid or "@" not in report.nodeid:
            return
        case, _, target = report.nodeid.split("[", 1)[1].rstrip("]").rpartition("@")
        key = (case, target)
        if report.failed:
            inconclusive = "wsgateway_inconclusive" in dict(report.user_properties)
            self.verdicts[key] = Verdict("inconclusive" if inconclusive else "failed", report.longreprtext)
        elif report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            self.verdicts[key] = Verdict("skipped", reason.removeprefix("Skipped: "))
        elif report.when == "call" and key not in self.verdicts:
            self.verdicts[key] = Verdict("passed", "")

    def for_target(self, target_id: str) -> dict[str, Verdict]:
        return {case: verdict for (case, target), verdict in self.verdicts.items() if target == target_id}


def suite_args(urls: list[str], ca_file: str | None) -> list[str]:
    """The command line of one suite run against ``urls`` (every endpoint echoes)."""
    args = [*SUITE_ARGS, *(f"--gateway-url={url}" for url in urls)]
    return args + ([f"--gateway-ca={ca_file}"] if ca_file else [])


# --- expected verdicts ----------------------------------------------------------------------

EXPECTED_DIR = Path(__file__).resolve().parents[1] / "expected_verdicts"
_ENTRY_KEYS = {"cases", "reason", "rfc", "quote", "actual", "request", "response"}
_INCONCLUSIVE_KEYS = {"cases", "reason", "actual"}


def load_expected(path: Path) -> dict[str, dict]:
    """``tests/expected_verdicts/<target>.yaml`` -> {case id: its entry}; every other case must pass.

    The file lists ``failures``: entries with the ``cases`` they cover, the ``reason`` (why it is a
    real deviation), the ``rfc`` section and ``quote``, the ``actual`` line the suite's failure
    message must contain, and the raw ``request`` and ``response`` that show it. Cases listed under
    ``inconclusive`` (:func:`load_inconclusive`) are expected to be neither passed nor failed.
    """
    return _entries(path, "failures", _ENTRY_KEYS)


def load_inconclusive(path: Path) -> dict[str, dict]:
    """The file's ``inconclusive`` entries -> {case id: entry}: cases the suite cannot judge on this
    target (e.g. refusals, when the valid upgrade is refused too), each with the ``reason`` that is
    right and the ``actual`` line the message must contain."""
    return _entries(path, "inconclusive", _INCONCLUSIVE_KEYS)


def load_not_offered(path: Path) -> str | None:
    """The file's ``not_offered`` line, or None: set for an HTTP/2 peer that does not offer RFC 8441
    (a control), where every case of the family must be skipped with a reason containing it."""
    import yaml

    document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    return document.get("not_offered")


def _entries(path: Path, section: str, keys: set[str]) -> dict[str, dict]:
    import yaml

    document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    entries: dict[str, dict] = {}
    for entry in document.get(section) or ():
        missing, unknown = keys - set(entry), set(entry) - keys
        if missing or unknown:
            raise ValueError(f"{path.name}: entry {entry.get('cases')}: missing {sorted(missing)}, unknown {sorted(unknown)}")
        for case in entry["cases"]:
            if case in entries:
                raise ValueError(f"{path.name}: case {case} is listed twice")
            entries[case] = entry
    return entries


def compare_with_expected(name: str, verdicts: dict[str, Verdict], scheme: str, transport: str = "http/1.1") -> list[str]:
    """Every way the suite's verdicts on target ``name`` differ from its expected-verdicts file.

    A new failure, a new pass (or a case no longer run), a failure for another reason than the
    recorded one, and a catalogue case that was not run at all (a broken run must not look clean)
    are all problems. ``transport`` says which cases the run was for (a case's ``transport:``; the
    HTTP/2 family runs only with ``--gateway-http2``). A file with ``not_offered`` (an HTTP/2 control,
    :func:`load_not_offered`) also needs every case of the family skipped with that reason.
    """
    from pytest_wsgateway.cases import load_catalogue

    expected = load_expected(EXPECTED_DIR / f"{name}.yaml")
    failed = {case for case, verdict in verdicts.items() if verdict.outcome == "failed"}
    problems = _compare_inconclusive(name, verdicts)
    for case in sorted(failed - set(expected)):
        problems.append(f"{name}: new failure {case} (not in expected_verdicts/{name}.yaml):\n"
                        f"{verdicts[case].message[:1500]}")
    for case in sorted(set(expected) - failed):
        outcome = verdicts[case].outcome if case in verdicts else "not run"
        problems.append(f"{name}: {case} was expected to fail ({' '.join(expected[case]['reason'].split())[:160]}...) "
                        f"but {outcome}")
    for case in sorted(failed & set(expected)):
        if expected[case]["actual"] not in verdicts[case].message:
            problems.append(f"{name}: {case} fails, but not as recorded: {expected[case]['actual']!r} is not in\n"
                            f"{verdicts[case].message[:1500]}")
    not_offered = load_not_offered(EXPECTED_DIR / f"{name}.yaml")
    for case in load_catalogue():
        if scheme in case.schemes and case.transport == transport and case.id not in verdicts:
            problems.append(f"{name}: catalogue case {case.id} was not run")
        elif not_offered and case.transport == transport and case.id in verdicts and (
                verdicts[case.id].outcome != "skipped" or not_offered not in verdicts[case.id].message) and not (
                # skipped first for a setting these runs do not give (suite_args passes no subprotocol)
                "subprotocol" in case.requires and verdicts[case.id].outcome == "skipped"
                and "--gateway-subprotocol" in verdicts[case.id].message):
            problems.append(f"{name}: {case.id} was expected to be skipped ({not_offered!r}) but "
                            f"{verdicts[case.id].outcome}: {verdicts[case.id].message[:600]}")
    return problems


def _compare_inconclusive(name: str, verdicts: dict[str, Verdict]) -> list[str]:
    expected = load_inconclusive(EXPECTED_DIR / f"{name}.yaml")
    found = {case for case, verdict in verdicts.items() if verdict.outcome == "inconclusive"}
    problems = [f"{name}: new inconclusive {case} (not in expected_verdicts/{name}.yaml):\n{verdicts[case].message[:1500]}"
                for case in sorted(found - set(expected))]
    problems += [f"{name}: {case} was expected to be inconclusive but {verdicts[case].outcome if case in verdicts else 'not run'}"
                 for case in sorted(set(expected) - found)]
    problems += [f"{name}: {case} is inconclusive, but not as recorded: {expected[case]['actual']!r} is not in\n"
                 f"{verdicts[case].message[:1500]}"
                 for case in sorted(found & set(expected)) if expected[case]["actual"] not in verdicts[case].message]
    return problems


def alive(pids: list[int]) -> list[int]:
    """The pids of ``pids`` that still run (not gone, not a zombie)."""
    running = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat", encoding="latin-1") as handle:
                if handle.read().rsplit(")", 1)[1].split()[0] != "Z":
                    running.append(pid)
        except OSError:
            pass
    return running
