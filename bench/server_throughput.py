"""Reference server: handshake throughput against a plain ``websockets.serve`` echo server, and
how many open connections it holds (pings answered) at what memory per connection.

Each server runs in its own process (its own interpreter and event loop, like a gateway under
test); the client is this process, using the suite's own client
(:func:`pytest_wsgateway.http1.exchange` with a valid RFC 6455 upgrade request, then the polite
Close the suite sends after a 101). Both servers are measured in the same run, alternating round
by round, on loopback.

* **throughput** — complete handshakes per second over a fixed time (split into 4 slices that
  alternate between the two servers, so load drift hits both alike): sequential (one client),
  and 50 concurrent clients (threads); ws://, and wss:// for the sequential case (same trustme
  certificate for both servers). Ratio = reference / websockets (target >= 1.0).
* **concurrency** — open N WebSocket connections (default 1,000) to each server and hold them,
  then send a ping on every one and count the pongs; memory per connection = (server RSS with
  N open - RSS before) / N. The fd limit is raised with ``resource.setrlimit`` when needed.

    python bench/server_throughput.py           # full: 5 rounds x 2 s per server, 1,000 connections
    python bench/server_throughput.py --quick   # CI smoke: 1 round x 0.2 s, 50 connections
"""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import median, parser, python, write_results  # noqa: E402

KINDS = ("reference", "websockets")
CONCURRENT_CLIENTS = 50
SLICES = 4  # each measurement is split into this many slices, alternating the two servers
TIMEOUT = 5.0


# --- the server processes --------------------------------------------------------------------


def _serve(kind: str, tls_dir: str | None, max_connections: int) -> None:
    """Child process: serve ``kind`` on 127.0.0.1:0, print ``READY <port>``, stop at stdin EOF."""
    import asyncio
    import logging
    import ssl

    logging.disable(logging.CRITICAL)
    _raise_fd_limit()
    context = None
    if tls_dir:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.set_alpn_protocols(["http/1.1"])
        context.load_cert_chain(os.path.join(tls_dir, "server.pem"))
    scheme = "wss" if tls_dir else "ws"

    if kind == "reference":
        from pytest_wsgateway.reference_server import ReferenceServer, ServerConfig

        server = ReferenceServer(ServerConfig(schemes=(scheme,), ssl_context=context,
                                                  max_connections=max_connections)).start()
        print(f"READY {server.address(scheme)[1]}", flush=True)
        sys.stdin.read()
        server.stop()
        return

    from websockets.asyncio.server import serve

    async def echo(connection) -> None:
        async for message in connection:
            await connection.send(message)

    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0, ssl=context, compression=None) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            print(f"READY {port}", flush=True)
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


class ServerProcess:
    def __init__(self, kind: str, tls_dir: str | None = None, max_connections: int = 1024) -> None:
        self.kind = kind
        self.proc = subprocess.Popen([python(), __file__, "--serve", kind, "--max-connections", str(max_connections),
                                      *(["--tls-dir", tls_dir] if tls_dir else [])],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("READY "):
            self.stop()
            raise SystemExit(f"{kind} server did not start: {line!r}")
        self.port = int(line.split()[1])

    def rss_kib(self) -> int:
        with open(f"/proc/{self.proc.pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        """user+sys CPU time of the server process so far (clock-tick resolution)."""
        with open(f"/proc/{self.proc.pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        try:
            self.proc.stdin.close()
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def _raise_fd_limit(wanted: int = 8192) -> int:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _tls_material(directory: str) -> str:
    """trustme CA + server certificate for 127.0.0.1 in a private dir; returns the CA file."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    os.chmod(directory, 0o700)
    cert.private_key_and_cert_chain_pem.write_to_path(os.path.join(directory, "server.pem"))
    ca_file = os.path.join(directory, "ca.pem")
    ca.cert_pem.write_to_path(ca_file)
    return ca_file


# --- the client side -------------------------------------------------------------------------


def _target(scheme: str, port: int, ca_file: str | None):
    from pytest_wsgateway.targets import parse_url

    return parse_url(f"{scheme}://127.0.0.1:{port}/websocket-test", ca_file=ca_file)


def _request(target) -> bytes:
    from pytest_wsgateway.cases import RequestSpec, render_request

    request, _ = render_request(RequestSpec(), host=target.host_header, resource=target.resource, path=target.path,
                                secure=target.secure)
    return request


def _handshake(target, request: bytes) -> bool:
    from pytest_wsgateway.http1 import ConnectError, exchange

    try:
        result = exchange(target, request, timeout=TIMEOUT)
    except ConnectError:
        return False
    return result.response is not None and result.response.status == 101


def throughput(target, seconds: float, clients: int) -> dict:
    """Complete handshakes per second with ``clients`` threads, each looping for ``seconds``."""
    request = _request(target)
    counts = [0] * clients
    failures = [0] * clients
    barrier = threading.Barrier(clients + 1)

    def worker(index: int) -> None:
        barrier.wait()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            if _handshake(target, request):
                counts[index] += 1
            else:
                failures[index] += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join(seconds + 6 * TIMEOUT)
    elapsed = time.perf_counter() - start
    return {"hs_per_s": sum(counts) / elapsed, "handshakes": sum(counts), "failures": sum(failures),
            "elapsed": elapsed}


def _read_head(sock: socket.socket, deadline: float) -> tuple[bytes, bytes]:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("no response head")
        sock.settimeout(remaining)
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed before the response head")
        buffer += data
    head, _, rest = buffer.partition(b"\r\n\r\n")
    return head, rest


def hold(server: ServerProcess, target, connections: int) -> dict:
    """Open ``connections`` WebSockets, keep them open, ping each; RSS delta per connection."""
    from pytest_wsgateway import frames
    from pytest_wsgateway.http1 import connect

    request = _request(target)
    # warm-up connection, so one-off allocations are not charged to the held connections
    _handshake(target, request)
    time.sleep(0.2)  # let the server finish the warm-up connection's close before the baseline RSS
    before = server.rss_kib()
    socks, pending, opened = [], {}, 0
    try:
        for _ in range(connections):
            sock = connect(target, TIMEOUT)
            socks.append(sock)
            sock.settimeout(TIMEOUT)
            sock.sendall(request)
            head, rest = _read_head(sock, time.monotonic() + TIMEOUT)
            if head.split(b" ", 2)[1] == b"101":
                opened += 1
            pending[sock] = rest
        after_open = server.rss_kib()
        for sock in socks:
            sock.settimeout(TIMEOUT)
            sock.sendall(frames.encode(frames.PING, b"hold"))
        answered = 0
        deadline = time.monotonic() + 4 * TIMEOUT
        for sock in socks:
            buffer = pending[sock]
            while True:
                got, buffer = frames.decode(buffer)
                if any(frame.opcode == frames.PONG for frame in got):
                    answered += 1
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                sock.settimeout(remaining)
                try:
                    data = sock.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                buffer += data
        after_ping = server.rss_kib()
    finally:
        for sock in socks:
            sock.close()
    return {"connections": connections, "opened": opened, "pongs": answered, "rss_before_kib": before,
            "rss_open_kib": after_open, "rss_after_ping_kib": after_ping,
            "kib_per_connection": round((max(after_open, after_ping) - before) / connections, 2)}


def main() -> None:
    p = parser(__doc__.splitlines()[0], runs=5)
    p.add_argument("--connections", type=int, default=None, help="connections to hold (default 1000; --quick 50)")
    p.add_argument("--seconds", type=float, default=None, help="time slice per measurement (default 2; --quick 0.2)")
    p.add_argument("--serve", choices=KINDS, help=argparse_hidden())
    p.add_argument("--tls-dir", help=argparse_hidden())
    p.add_argument("--max-connections", type=int, default=1024, help=argparse_hidden())
    args = p.parse_args()
    if args.serve:
        _serve(args.serve, args.tls_dir, args.max_connections)
        return
    rounds = args.runs or (1 if args.quick else 5)
    seconds = args.seconds or (0.2 if args.quick else 2.0)
    connections = args.connections or (50 if args.quick else 1000)
    fd_limit = _raise_fd_limit(max(8192, connections * 2 + 256))

    tls_dir = tempfile.mkdtemp(prefix="wsgateway-bench-tls-")
    try:
        ca_file = _tls_material(tls_dir)
        # the reference server's default max_connections (1024) unless more are asked for
        limit = max(1024, connections + 16)
        servers = {(kind, scheme): ServerProcess(kind, tls_dir if scheme == "wss" else None, limit)
                   for kind in KINDS for scheme in ("ws", "wss")}
        try:
            targets = {key: _target(key[1], server.port, ca_file) for key, server in servers.items()}
            scenarios = [("ws", 1), ("ws", CONCURRENT_CLIENTS), ("wss", 1), ("wss", CONCURRENT_CLIENTS)]
            samples: dict[str, dict[str, list]] = {f"{s}-{c}": {k: [] for k in KINDS} for s, c in scenarios}
            for kind in KINDS:  # warm-up
                for scheme in ("ws", "wss"):
                    throughput(targets[(kind, scheme)], min(seconds, 0.2), 1)
            for index in range(rounds):
                for scheme, clients in scenarios:
                    # short alternating slices (ref, ws, ws, ref, ...): load drift hits both servers alike
                    slices = {kind: [] for kind in KINDS}
                    for part in range(SLICES):
                        order = KINDS if (index + part) % 2 == 0 else tuple(reversed(KINDS))
                        for kind in order:
                            cpu = servers[(kind, scheme)].cpu_seconds()
                            sample = throughput(targets[(kind, scheme)], seconds / SLICES, clients)
                            sample["server_cpu"] = servers[(kind, scheme)].cpu_seconds() - cpu
                            slices[kind].append(sample)
                    for kind in KINDS:
                        elapsed = sum(s["elapsed"] for s in slices[kind])
                        done = sum(s["handshakes"] for s in slices[kind])
                        samples[f"{scheme}-{clients}"][kind].append(
                            {"hs_per_s": done / elapsed, "handshakes": done,
                             "server_cpu_us_per_hs": sum(s["server_cpu"] for s in slices[kind]) / max(done, 1) * 1e6,
                             "failures": sum(s["failures"] for s in slices[kind])})
                line = ", ".join(f"{name} ref {s['reference'][-1]['hs_per_s']:.0f}/ws {s['websockets'][-1]['hs_per_s']:.0f}"
                                 for name, s in samples.items())
                print(f"round {index + 1}/{rounds} (hs/s): {line}", flush=True)
            held = {kind: hold(servers[(kind, "ws")], targets[(kind, "ws")], connections) for kind in KINDS}
        finally:
            for server in servers.values():
                server.stop()
    finally:
        shutil.rmtree(tls_dir, ignore_errors=True)

    throughput_result = {}
    for name, by_kind in samples.items():
        medians = {kind: median([s["hs_per_s"] for s in by_kind[kind]]) for kind in KINDS}
        cpu = {kind: median([s["server_cpu_us_per_hs"] for s in by_kind[kind]]) for kind in KINDS}
        throughput_result[name] = {
            "reference_hs_per_s": round(medians["reference"], 1),
            "websockets_hs_per_s": round(medians["websockets"], 1),
            "ratio": round(medians["reference"] / medians["websockets"], 3),
            "reference_server_cpu_us_per_hs": round(cpu["reference"], 1),
            "websockets_server_cpu_us_per_hs": round(cpu["websockets"], 1),
            "cpu_efficiency_ratio": round(cpu["websockets"] / cpu["reference"], 3),
            "failures": {kind: sum(s["failures"] for s in by_kind[kind]) for kind in KINDS},
            "runs_hs_per_s": {kind: [round(s["hs_per_s"], 1) for s in by_kind[kind]] for kind in KINDS},
        }
    result = {"rounds": rounds, "seconds_per_sample": seconds, "concurrent_clients": CONCURRENT_CLIENTS,
              "fd_limit": fd_limit, "throughput": throughput_result, "hold": held,
              "targets": {"ratio": 1.0, "connections": 1000}}

    for name, row in throughput_result.items():
        scheme, clients = name.split("-")
        label = "sequential" if clients == "1" else f"{clients} concurrent"
        print(f"{scheme} {label}: reference {row['reference_hs_per_s']:.0f} hs/s, websockets "
              f"{row['websockets_hs_per_s']:.0f} hs/s, ratio {row['ratio']:.2f}x  target >= 1.00x; server CPU per "
              f"handshake {row['reference_server_cpu_us_per_hs']:.0f} vs {row['websockets_server_cpu_us_per_hs']:.0f} µs "
              f"(ratio {row['cpu_efficiency_ratio']:.2f}x)"
              + (f"  failures {row['failures']}" if any(row["failures"].values()) else ""))
    for kind, row in held.items():
        print(f"{kind}: held {row['opened']}/{row['connections']} connections, {row['pongs']} pongs, "
              f"{row['kib_per_connection']:.1f} KiB/connection (RSS {row['rss_before_kib']} -> "
              f"{max(row['rss_open_kib'], row['rss_after_ping_kib'])} KiB)")
    write_results("server_throughput", result, args)


def argparse_hidden() -> str:
    import argparse

    return argparse.SUPPRESS


if __name__ == "__main__":
    main()
