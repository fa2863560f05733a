"""Benchmark: the conformance suite against a gateway far away: one exchange at a time, the default
concurrent engine, and pytest-xdist.

A reference server (ws://) sits behind a small TCP proxy on loopback that delays every chunk by
``--latency-ms`` in each direction (delivery order kept, throughput not limited), like a gateway
one WAN hop away: the issue's "50 ms RTT" is the default, 25 ms each way. The suite runs with
``--gateway-concurrency 1``, with the default engine and with ``-n WORKERS`` (each worker one
exchange at a time); the script prints the wall times, the CPU time each run cost (user + sys of
pytest and its workers: far less disturbed by a loaded machine than the wall) and the ratios, and
fails if a run does not pass (or, with ``--min-speedup``, if xdist's speed-up over one-at-a-time is
below it). ``--trace`` adds one traced default run first and prints where its wall time went
(start-up, collection, the canary, the quiet cases, the disturbing ones, the longest exchanges;
see bench/_trace.py).

    python bench/xdist_latency.py              # 25 ms each way (50 ms RTT), -n 8, the whole catalogue
    python bench/xdist_latency.py --latency-ms 50   # 100 ms RTT, as the earlier figures
    python bench/xdist_latency.py --trace --runs 1  # the breakdown of a default run
    python bench/xdist_latency.py --quick      # 20 ms, -n 2, a few cases: a smoke run for CI
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import tempfile
import socket
import subprocess
import sys
import threading
import time

EOF = object()


class LatencyProxy:
    """TCP proxy on 127.0.0.1:<port 0>: each chunk reaches the other side ``delay`` seconds later."""

    def __init__(self, upstream: tuple[str, int], delay: float) -> None:
        self.upstream, self.delay = upstream, delay
        self.sock = socket.create_server(("127.0.0.1", 0))  # bound before the thread starts: no race
        self.port = self.sock.getsockname()[1]
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self._main(),), daemon=True)

    def __enter__(self) -> LatencyProxy:
        self.thread.start()
        if not self.ready.wait(10):
            raise RuntimeError("latency proxy did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self.thread.join(10)

    async def _main(self) -> None:
        self.stop = asyncio.Event()
        server = await asyncio.start_server(self._connection, sock=self.sock)
        self.ready.set()
        async with server:
            await self.stop.wait()

    async def _connection(self, client_reader, client_writer) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.wait_for(asyncio.open_connection(*self.upstream), 10)
        except (OSError, asyncio.TimeoutError):
            client_writer.close()
            return
        await asyncio.gather(self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer),
                             return_exceptions=True)
        for writer in (client_writer, upstream_writer):
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        queue: asyncio.Queue = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if chunk is EOF:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(chunk)
                await writer.drain()

        delivery = asyncio.ensure_future(deliver())
        try:
            while True:
                # Idle bound: the suite's own timeouts are far shorter; this only frees stuck pipes.
                chunk = await asyncio.wait_for(reader.read(65536), 120)
                queue.put_nowait((time.monotonic() + self.delay, chunk or EOF))
                if not chunk:
                    break
            await delivery
        except (OSError, asyncio.TimeoutError):
            delivery.cancel()


def run_suite(url: str, extra: list[str], selection: str | None,
              env: dict | None = None) -> tuple[float, int, str, float]:
    """One suite run: wall seconds, exit code, last line, CPU seconds (user + sys of the children)."""
    args = [sys.executable, "-m", "pytest", "--pyargs", "pytest_wsgateway.conformance", f"--gateway-url={url}",
            "--gateway-echo", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", *extra]
    if selection:
        args += ["-k", selection]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, cwd=os.path.dirname(__file__) or ".",
                          env=env)
    elapsed = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    last = (done.stdout.strip().splitlines() or [""])[-1]
    return elapsed, done.returncode, last, cpu


def traced_run(url: str, selection: str | None, rtt: float) -> list[str]:
    """One default run with bench/_trace.py loaded: where its wall time went."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _trace import breakdown

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "trace.json")
        env = dict(os.environ, WSGATEWAY_TRACE=path, WSGATEWAY_TRACE_T0=repr(time.time()))
        elapsed, code, line, cpu = run_suite(url, ["-p", "_trace"], selection, env)
        with open(path, encoding="utf-8") as handle:
            trace = json.load(handle)
    return [f"traced default run: {elapsed:.2f} s wall, {cpu:.2f} s CPU ({line})", *breakdown(trace, rtt)]


def default_concurrency() -> int:
    from pytest_wsgateway.settings import DEFAULT_CONCURRENCY

    return DEFAULT_CONCURRENCY


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 ms, -n 2, a few cases (a smoke run for CI)")
    parser.add_argument("--latency-ms", type=float, help="delay each way (default 25, a 50 ms RTT; --quick: 20)")
    parser.add_argument("--workers", type=int, help="xdist workers (default 8; --quick: 2)")
    parser.add_argument("--runs", type=int, help="rounds of the three arms, medians reported (default 3; --quick: 1)")
    parser.add_argument("--trace", action="store_true", help="first a traced default run, and its breakdown")
    parser.add_argument("--min-speedup", type=float, default=0.0, help="fail below this speed-up (default: report only)")
    options = parser.parse_args(argv)
    latency = options.latency_ms if options.latency_ms is not None else (20.0 if options.quick else 25.0)
    workers = options.workers or (2 if options.quick else 8)
    selection = "accept- or upgrade- or reject-key" if options.quick else None

    from pytest_wsgateway.reference_server import ReferenceServer, ServerConfig

    server = ReferenceServer(ServerConfig(schemes=("ws",))).start()
    try:
        host, port = server.address("ws")
        with LatencyProxy((host, port), latency / 1000) as proxy:
            url = f"ws://127.0.0.1:{proxy.port}{server.routes[0]}"
            print(f"target {url} -> {server.urls['ws']} with {latency:g} ms each way")
            traced = traced_run(url, selection, 2 * latency / 1000) if options.trace else []
            print("\n".join(traced))
            times: dict[str, list[float]] = {"one": [], "default": [], "xdist": []}
            cpus: dict[str, list[float]] = {"one": [], "default": [], "xdist": []}
            codes, lines = [], {}
            for _ in range(options.runs or (1 if options.quick else 3)):  # alternating arms, medians
                for arm, extra in (("one", ["--gateway-concurrency=1"]), ("default", []),
                                   ("xdist", ["-n", str(workers)])):
                    elapsed, code, line, cpu = run_suite(url, extra, selection)
                    times[arm].append(elapsed)
                    cpus[arm].append(cpu)
                    codes.append(code)
                    lines[arm] = line
            serial, default, parallel = (sorted(times[a])[len(times[a]) // 2] for a in ("one", "default", "xdist"))
            serial_rc = default_rc = parallel_rc = max(codes)
            serial_line, default_line, parallel_line = lines["one"], lines["default"], lines["xdist"]
            cpu = {arm: sorted(values)[len(values) // 2] for arm, values in cpus.items()}
            print(f"  --gateway-concurrency 1 : {serial:6.1f} s, CPU {cpu['one']:5.2f} s  ({serial_line})")
            print(f"  default                 : {default:6.1f} s, CPU {cpu['default']:5.2f} s  ({default_line})")
            print(f"  -n {workers:<21}: {parallel:6.1f} s, CPU {cpu['xdist']:5.2f} s  ({parallel_line})")
    finally:
        server.stop()
    speedup = serial / parallel if parallel else float("inf")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _common import write_results

    write_results("latency", {
        "latency_ms_each_way": latency, "workers": workers, "selection": selection or "the whole catalogue",
        "concurrency_1_s": round(serial, 2), "default_s": round(default, 2), "xdist_s": round(parallel, 2),
        "runs": len(times["one"]), "all_s": {arm: [round(t, 2) for t in values] for arm, values in times.items()},
        "cpu_s": {arm: round(value, 2) for arm, value in cpu.items()},
        "default_concurrency": default_concurrency(), "trace": traced,
        "default_line": default_line, "targets": {"default_vs_concurrency_1": 8.0, "default_vs_xdist": 3.0},
    }, argparse.Namespace(quick=options.quick, output=None))
    print(f"  default vs concurrency 1: {serial / default:.1f}x faster; default vs -n {workers}: "
          f"{parallel / default:.1f}x faster; -n {workers} vs concurrency 1: {speedup:.1f}x ({os.cpu_count()} CPU(s))")
    if serial_rc or parallel_rc or default_rc:
        print(f"FAIL: the suite did not pass (exit {serial_rc} / {default_rc} / {parallel_rc})")
        return 1
    if speedup < options.min_speedup:
        print(f"FAIL: speed-up {speedup:.1f}x is below --min-speedup {options.min_speedup:g}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
