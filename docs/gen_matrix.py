#!/usr/bin/env python3
"""Generate docs/conformance-matrix.md from one run of the suite against every target.

    python docs/gen_matrix.py                   # rewrite docs/conformance-matrix.md
    python docs/gen_matrix.py --output FILE     # write elsewhere (tests/interop/test_matrix_current.py does)
    python docs/gen_matrix.py --json FILE       # also dump every verdict with its message

Targets, all on loopback: the reference server (ws and wss), nginx with the common
``map $http_upgrade`` recipe, a misconfigured nginx, HAProxy and Caddy in front of the reference
server over ``wss://`` (tests/interop/_gateways.py), and the server libraries websockets, aiohttp,
tornado and uvicorn (websockets and wsproto backends) over ``ws://`` (tests/interop/_servers.py). The
suite runs once, in this process, exactly as a user runs it (``pytest --pyargs
pytest_wsgateway.conformance --gateway-url=... --gateway-echo``). A second run, with
``--gateway-http2=auto -k h2-``, gives the HTTP/2 columns (RFC 8441; docs/http2.md): hypercorn, and
HAProxy, Apache, nghttpx, nginx and Caddy with an HTTP/2 TLS listener in front of the reference server.

The output is deterministic: no ports, times, keys or versions, only verdicts; the reasons
under "Why each failure is a deviation" come from tests/expected_verdicts/*.yaml.
Needs nginx, haproxy, caddy, apache2 and nghttpx installed and the project's ``test`` extra.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the test helpers are the package ``tests`` at the repository root

import pytest  # noqa: E402
import trustme  # noqa: E402

from pytest_wsgateway.cases import load_catalogue  # noqa: E402
from pytest_wsgateway.reference_server import (  # noqa: E402
    ReferenceServer,
    ServerConfig,
    issue_server_cert,
    server_ssl_context,
)
from tests.harness import target_id  # noqa: E402
from tests.interop import _gateways, _servers  # noqa: E402

OUTPUT = REPO / "docs" / "conformance-matrix.md"


@dataclass(frozen=True)
class Column:
    name: str  # the column header and the expected-verdicts file name
    what: str
    kind: str  # "reference", "gateway" or "library"


COLUMNS = (
    Column("reference-ws", "the strict reference server, `ws://`", "reference"),
    Column("reference-wss", "the strict reference server, `wss://`", "reference"),
    *(Column(kind.name, kind.title, "gateway") for kind in _gateways.KINDS.values()),
    *(Column(name, title, "library") for name, title in _servers.TITLES.items()),
)
#: The HTTP/2 columns (the ``h2-`` family, ``--gateway-http2 auto`` over ``wss://``).
H2_COLUMNS = (
    Column("hypercorn", "hypercorn (PyPI), minimal ASGI echo app, TLS with ALPN h2", "http/2 server"),
    *(Column(name, title, "http/2 gateway") for name, title in _gateways.H2_TITLES.items()),
)


def collect(workdir: Path) -> dict[str, dict[str, _gateways.Verdict]]:
    """Start every target, run the suite once against all of them; column name -> case -> verdict."""
    missing = [reason for kind in [*_gateways.KINDS, *_gateways.H2_TITLES] if (reason := _gateways.missing_binary(kind))]
    if missing:
        raise SystemExit(f"gen_matrix: {missing[0]}")
    for name in [name for name in os.environ if name.startswith("WSGATEWAY_")]:
        del os.environ[name]  # the suite reads its options from the environment too
    with contextlib.ExitStack() as stack:
        ca = trustme.CA()
        tls = _gateways.write_tls_files(ca, workdir / "tls")
        context = server_ssl_context(issue_server_cert(ca))
        reference = stack.enter_context(ReferenceServer(ServerConfig(host=_gateways.HOST, schemes=("ws", "wss"),
                                                                     ssl_context=context, permessage_deflate=True)))
        upstream = reference.address("ws")[1]
        urls = {"reference-ws": reference.urls["ws"], "reference-wss": reference.urls["wss"]}
        for kind in _gateways.KINDS:
            urls[kind] = stack.enter_context(_gateways.gateway(kind, upstream, workdir / kind, tls)).url
        for name, factory in _servers.LIBRARIES.items():
            urls[name] = stack.enter_context(factory())
        h2_urls = {"hypercorn": stack.enter_context(_servers.hypercorn_server(tls))}
        for kind in _gateways.H2_TITLES:
            h2_urls[kind] = stack.enter_context(_gateways.gateway(kind, upstream, workdir / kind, tls)).url
        recorder = _gateways.VerdictRecorder()
        os.chdir(workdir)  # no pytest.ini / pyproject of the caller
        status = pytest.main([*_gateways.suite_args(list(urls.values()), tls.ca), "-q", "--tb=no", "-rN"],
                             plugins=[recorder])
        if status not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            raise SystemExit(f"gen_matrix: the suite run ended with {status!r}")
        h2_recorder = _gateways.VerdictRecorder()
        status = pytest.main([*_gateways.suite_args(list(h2_urls.values()), tls.ca), "--gateway-http2=auto",
                              "-k", "h2-", "-W", f"ignore:{_servers.HYPERCORN_IDLE}:RuntimeWarning",
                              "-q", "--tb=no", "-rN"], plugins=[h2_recorder])
        if status not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            raise SystemExit(f"gen_matrix: the HTTP/2 suite run ended with {status!r}")
    if _gateways.leftover_processes():
        raise SystemExit(f"gen_matrix: gateway processes left behind: {_gateways.leftover_processes()}")
    return {**{name: recorder.for_target(target_id(url)) for name, url in urls.items()},
            **{name: h2_recorder.for_target(target_id(url)) for name, url in h2_urls.items()}}


def _cell(verdict: _gateways.Verdict | None) -> str:
    if verdict is None or verdict.outcome == "skipped":
        return "–"
    return {"passed": "pass", "inconclusive": "n/j"}.get(verdict.outcome, "**FAIL**")


def _reasons(name: str) -> dict[str, str]:
    path = REPO / "tests" / "expected_verdicts" / f"{name}.yaml"
    if not path.exists():
        return {}
    return {case: entry["reason"] for case, entry in _gateways.load_expected(path).items()}


def _inconclusive_reason(name: str, case: str) -> str:
    path = REPO / "tests" / "expected_verdicts" / f"{name}.yaml"
    entry = _gateways.load_inconclusive(path).get(case) if path.exists() else None
    return entry["reason"] if entry else "(no reason recorded in tests/expected_verdicts)"


def render(results: dict[str, dict[str, _gateways.Verdict]]) -> str:
    everything = load_catalogue()
    catalogue = [case for case in everything if case.transport == "http/1.1"]
    h2_catalogue = [case for case in everything if case.transport == "h2"]
    known = {case.id for case in everything}
    others = sorted({case for name in (c.name for c in COLUMNS) for case in results[name]} - known)
    rows = [(case.id, case.level, case.rfc) for case in catalogue] + [(name, "–", "–") for name in others]
    out = [
        "# Conformance matrix: real gateways and server libraries",
        "",
        "<!-- Generated by docs/gen_matrix.py from one run of the suite. Do not edit by hand:",
        "     run `python docs/gen_matrix.py`; tests/interop/test_matrix_current.py fails when this file is stale. -->",
        "",
        "One run of the suite (`pytest --pyargs pytest_wsgateway.conformance --gateway-url=… --gateway-echo`)",
        "against every target below, all on loopback with their defaults. The gateways terminate TLS",
        "(`wss://`, a trustme certificate) in front of the reference server; the libraries serve a minimal",
        "echo endpoint over `ws://`. How each target is set up, and why every failure is a real deviation",
        "(with the raw request and response): [gateways.md](gateways.md) and",
        "[`tests/expected_verdicts/`](../tests/expected_verdicts/), which the tests enforce case by case.",
        "",
        "## Targets",
        "",
        "| column | target | kind | failing cases |",
        "|---|---|---|---|",
    ]
    for column in (*COLUMNS, *H2_COLUMNS):
        failing = sum(verdict.outcome == "failed" for verdict in results[column.name].values())
        out.append(f"| `{column.name}` | {column.what} | {column.kind} | {failing} |")
    out += ["", "## Verdicts", "",
            "`pass`: the requirement holds; **FAIL**: the target deviates; `n/j`: inconclusive, not judged (see",
            "below); `–`: not run (see below).", "",
            "| case | level | RFC | " + " | ".join(f"`{column.name}`" for column in COLUMNS) + " |",
            "|---|---|---|" + "---|" * len(COLUMNS)]
    for case, level, rfc in rows:
        cells = [_cell(results[column.name].get(case)) for column in COLUMNS]
        out.append(f"| `{case}` | {level} | {rfc} | " + " | ".join(cells) + " |")
    out += ["", "## HTTP/2 verdicts (RFC 8441)", "",
            "The `h2-` family (`--gateway-http2 auto`, `wss://` with ALPN h2; [http2.md](http2.md)) against the",
            "HTTP/2 columns; the gateways proxy to the reference server over HTTP/1.1. `–`: not run: the target",
            "does not offer RFC 8441 (see below), which is information, not a failure.", "",
            "| case | level | RFC | " + " | ".join(f"`{column.name}`" for column in H2_COLUMNS) + " |",
            "|---|---|---|" + "---|" * len(H2_COLUMNS)]
    for case in h2_catalogue:
        cells = [_cell(results[column.name].get(case.id)) for column in H2_COLUMNS]
        out.append(f"| `{case.id}` | {case.level} | {case.rfc} | " + " | ".join(cells) + " |")
    rows += [(case.id, case.level, case.rfc) for case in h2_catalogue]
    skipped: dict[str, set[str]] = {}
    skipped_on: dict[str, list[str]] = {}  # an HTTP/2 "not offered" reason -> the columns it is about
    for name, verdicts in results.items():
        for case, verdict in verdicts.items():
            if verdict.outcome == "skipped":
                skipped.setdefault(verdict.message.strip(), set()).add(case)
                if verdict.message.startswith("RFC 8441 not offered") and name not in skipped_on.get(verdict.message.strip(), []):
                    skipped_on.setdefault(verdict.message.strip(), []).append(name)
    out += ["", "## Not run", ""]
    for reason, cases in sorted(skipped.items()):
        where = f" (on {', '.join(f'`{name}`' for name in skipped_on[reason])})" if reason in skipped_on else ""
        out.append(f"- {', '.join(f'`{case}`' for case in sorted(cases))}: {reason}{where}")
    ran = {case for verdicts in results.values() for case, verdict in verdicts.items() if verdict.outcome != "skipped"}
    by_scheme = sorted(case.id for case in catalogue if case.id in ran and "ws" not in case.schemes)
    if by_scheme:
        out.append(f"- {', '.join(f'`{case}`' for case in by_scheme)}: `wss://` only (not run on `ws://` targets)")
    inconclusive: dict[tuple[str, str], list[str]] = {}
    for column in (*COLUMNS, *H2_COLUMNS):
        for case, _, _ in rows:
            verdict = results[column.name].get(case)
            if verdict is not None and verdict.outcome == "inconclusive":
                inconclusive.setdefault((column.name, _inconclusive_reason(column.name, case)), []).append(case)
    if inconclusive:
        out += ["", "## Not judged (inconclusive)", ""]
        for (name, reason), cases in inconclusive.items():
            out.append(f"- `{name}`: {', '.join(f'`{case}`' for case in cases)}: {' '.join(reason.split())}")
    out += ["", "## Why each failure is a deviation", ""]
    for column in (*COLUMNS, *H2_COLUMNS):
        failed = [case for case, _, _ in rows if (v := results[column.name].get(case)) and v.outcome == "failed"]
        if not failed:
            continue
        reasons = _reasons(column.name)
        out += [f"### `{column.name}`", ""]
        grouped: dict[str, list[str]] = {}
        for case in failed:
            grouped.setdefault(reasons.get(case, "(no reason recorded in tests/expected_verdicts)"), []).append(case)
        for reason, cases in grouped.items():
            out.append(f"- {', '.join(f'`{case}`' for case in cases)}: {' '.join(reason.split())}")
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write the matrix (default: %(default)s)")
    parser.add_argument("--json", type=Path, help="also write every verdict and message as JSON")
    args = parser.parse_args(argv)
    output, dump = args.output.resolve(), args.json.resolve() if args.json else None
    with tempfile.TemporaryDirectory(prefix="wsgateway-matrix-") as workdir:
        cwd = os.getcwd()
        try:
            results = collect(Path(workdir))
        finally:
            os.chdir(cwd)
    output.write_text(render(results), encoding="utf-8")
    if dump:
        data = {name: {case: [v.outcome, v.message] for case, v in sorted(verdicts.items())}
                for name, verdicts in results.items()}
        dump.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
    print(f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
