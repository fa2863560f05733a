"""A pytest plugin for the benchmarks' ``--trace`` runs: timestamps of a suite run's phases and of
every exchange, written as JSON to ``$WSGATEWAY_TRACE`` when the run ends.

Loaded with ``-p _trace`` (the bench scripts run pytest from bench/). ``$WSGATEWAY_TRACE_T0`` is
the wall clock (``time.time()``) when the bench started the process, so interpreter and pytest
start-up are in the trace too. Exchanges are timed by wrapping ``runner.run_case`` (the canary
and every case go through it); each item's wait for its outcome by wrapping the executor's
``outcome``. Observation only: nothing here changes what runs or its verdict.
"""

from __future__ import annotations

import json
import os
import threading
import time

T0 = float(os.environ.get("WSGATEWAY_TRACE_T0") or time.time())
_events: dict[str, float] = {}
_exchanges: list[dict] = []
_waits: list[float] = []
_items: list[tuple[float, float]] = []
_lock = threading.Lock()


def _now() -> float:
    return time.time() - T0


def pytest_configure(config) -> None:
    _events["configure"] = _now()
    from pytest_wsgateway import executor, runner

    original = runner.run_case

    def run_case(case, target):
        start = _now()
        try:
            return original(case, target)
        finally:
            with _lock:
                _exchanges.append({"case": case.id, "target": target.id, "start": start, "end": _now(),
                                   "thread": threading.current_thread().name,
                                   "disturbing": executor.disturbing(case)})

    runner.run_case = run_case
    for cls in (executor.SerialExecutor, executor.ConcurrentExecutor):
        if "outcome" in vars(cls):
            setattr(cls, "outcome", _timed(vars(cls)["outcome"]))


def _timed(method):
    def outcome(self, case, target):
        start = time.time()
        try:
            return method(self, case, target)
        finally:
            if threading.current_thread() is threading.main_thread():
                _waits.append(time.time() - start)

    return outcome


def pytest_collection_finish(session) -> None:
    _events["collection_finish"] = _now()


def pytest_runtest_logstart(nodeid, location) -> None:
    _events.setdefault("first_item", _now())
    _items.append((_now(), 0.0))


def pytest_runtest_logfinish(nodeid, location) -> None:
    _events["last_item_end"] = _now()
    if _items:
        _items[-1] = (_items[-1][0], _now())


def pytest_sessionfinish(session) -> None:
    _events["session_finish"] = _now()


def pytest_unconfigure(config) -> None:
    path = os.environ.get("WSGATEWAY_TRACE")
    if not path or hasattr(config, "workerinput"):
        return
    _events["unconfigure"] = _now()
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"events": _events, "exchanges": _exchanges, "main_thread_waits": _waits,
                   "items": len(_items), "item_seconds": sum(end - start for start, end in _items)}, handle)


def breakdown(trace: dict, rtt: float | None = None) -> list[str]:
    """Lines saying where the run's wall time went (for the bench's ``--trace`` output)."""
    ev, ex = trace["events"], sorted(trace["exchanges"], key=lambda e: e["start"])
    lines = []

    def span(label: str, a: float, b: float, note: str = "") -> None:
        lines.append(f"  {label:<46} {a * 1000:7.0f} -> {b * 1000:7.0f} ms  ({(b - a) * 1000:6.0f} ms){note}")

    span("interpreter + pytest start-up, plugins", 0.0, ev.get("configure", 0.0))
    span("collection (catalogue, parametrizing)", ev.get("configure", 0.0), ev.get("collection_finish", 0.0))
    span("collection finish -> first item", ev.get("collection_finish", 0.0), ev.get("first_item", 0.0))
    if ex:
        canaries = [e for e in ex if e["case"].startswith("canary")]
        quiet = [e for e in ex if not e["disturbing"] and not e["case"].startswith("canary")]
        loud = [e for e in ex if e["disturbing"]]
        for e in canaries:
            span(f"canary ({e['case']}, {e['target']})", e["start"], e["end"])
        if quiet:
            span(f"quiet cases ({len(quiet)})", min(e["start"] for e in quiet), max(e["end"] for e in quiet))
        if loud:
            span(f"disturbing cases, one at a time ({len(loud)})", min(e["start"] for e in loud),
                 max(e["end"] for e in loud))
        # how many exchanges were in flight, sampled at each start
        peak = max(sum(1 for o in ex if o["start"] <= e["start"] < o["end"]) for e in ex)
        lines.append(f"  peak exchanges in flight: {peak}; exchange seconds in all: "
                     f"{sum(e['end'] - e['start'] for e in ex):.2f} s")
        longest = sorted(ex, key=lambda e: e["end"] - e["start"], reverse=True)[:8]
        unit = f" ({{:.1f}} RTT)" if rtt else ""
        lines.append("  longest exchanges: " + ", ".join(
            f"{e['case']} {(e['end'] - e['start']) * 1000:.0f} ms" + (unit.format((e['end'] - e['start']) / rtt) if rtt else "")
            for e in longest))
    span("last item -> process exit (reports, teardown)", ev.get("last_item_end", 0.0), ev.get("unconfigure", 0.0))
    waits = trace.get("main_thread_waits", [])
    lines.append(f"  items: {trace.get('items')}, {trace.get('item_seconds', 0) * 1000:.0f} ms in pytest's item "
                 f"protocol, of which {sum(waits) * 1000:.0f} ms waiting for outcomes")
    return lines
