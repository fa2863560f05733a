"""The pytest entry point (``pytest11: wsgateway``): options, markers, report lines, parametrization.

Every pytest run in an environment where pytest-wsgateway is installed imports this module, so
it imports only pytest and the standard library at module level; the client, the checks, YAML
and the reference server are imported when a test asks for them.

Each option has an ini key and an environment variable; the command line wins, then the
environment, then the ini file.

PYTEST_DONT_REWRITE: no assertions here, so pytest need not rewrite (and recompile) this module.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import pytest

from . import fixtures

EMBEDDED_TARGETS = ("reference-ws", "reference-wss")
LEVEL_MARKERS = {
    "must": "RFC MUST-level requirement (a failure is a protocol violation)",
    "should": "RFC SHOULD-level requirement or clean-error expectation",
    "interop": "interoperability expectation beyond the RFC's MUSTs (what real clients and gateways rely on)",
    "browser": "what a browser's WebSocket client checks beyond RFC 6455 (WHATWG WebSockets and Fetch)",
}

# name, ini key / env var suffix, help, kind
_OPTIONS = (
    ("url", "URL", "a ws:// or wss:// URL to test (repeatable); without one, the embedded reference server", "list"),
    ("ca", "PATH", "CA certificate file (PEM) that signs the gateway's certificate", "str"),
    ("insecure", None, "do not verify the gateway's TLS certificate or host name (like websocat --insecure)", "bool"),
    ("timeout", "SECONDS", "limit for each network step: connect, TLS, response head, each frame (default 5)", "str"),
    ("origin", "ORIGIN", "Origin header to send with every handshake", "str"),
    ("header", "'NAME: VALUE'", "extra request header, e.g. a client id (repeatable; values are never printed)", "list"),
    ("api", "PATH", "OpenAPI 2.0 (Swagger) definition of the API behind the URL(s)", "str"),
    ("echo", None, "the endpoint echoes messages: also check that a text and a binary message come back", "bool"),
    ("subprotocol", "NAME", "a subprotocol the API speaks (repeatable); default for the embedded server: "
     "its own (wsgateway_subprotocols)", "list"),
    ("browser", None, "also open each target from a real headless Chromium and compare with the suite's verdict "
     "(conformance/test_browser.py); env WSGATEWAY_BROWSER may also be the path of a Chromium", "bool"),
    ("browser_path", "PATH", "the Chromium/Chrome binary for --gateway-browser (default: chromium on PATH)", "str"),
    # The CI gate (baseline.py, reports.py; imported only when these are used):
    ("known_failures", "FILE", "YAML of known failures (case id -> reason, or -> {target id: reason}); "
     "they become strict xfails, so a fixed case fails the run until it is removed", "str"),
    ("write_baseline", "FILE", "after the run, write the cases that failed as a --gateway-known-failures file", "str"),
    ("report", "PATH", "write a report; the format follows the extension: .json, .md or .html (repeatable)", "list"),
)
ENV_HEADER_PREFIX = "WSGATEWAY_HEADER_"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wsgateway", "WebSocket gateway conformance (pytest-wsgateway)")
    for name, metavar, help_text, kind in _OPTIONS:
        env = f"WSGATEWAY_{name.upper()}"
        flag = f"--gateway-{name.replace('_', '-')}"
        if kind == "bool":
            group.addoption(flag, action="store_true", default=None, help=f"{help_text} [env {env}=1]")
            parser.addini(f"wsgateway_{name}", help_text, type="bool", default=False)
        elif kind == "list":
            group.addoption(flag, action="append", metavar=metavar, default=None, help=f"{help_text} [env {env}]")
            parser.addini(f"wsgateway_{name}", help_text, type="linelist", default=[])
        else:
            group.addoption(flag, metavar=metavar, default=None, help=f"{help_text} [env {env}]")
            parser.addini(f"wsgateway_{name}", help_text, default="")


def _option(config: pytest.Config, name: str, kind: str):
    """The option's value: the command line, else WSGATEWAY_<NAME>, else the ini key."""
    value = config.getoption(f"gateway_{name}")
    if value is not None:
        return value
    env = os.environ.get(f"WSGATEWAY_{name.upper()}")
    if env is not None and env.strip():
        if kind == "bool":
            return env.strip().lower() in ("1", "true", "yes", "on")
        return env.split() if kind == "list" else env.strip()
    return config.getini(f"wsgateway_{name}") or ([] if kind == "list" else None)


class GatewayOptions(NamedTuple):
    """The options as given (strings), before validation; see :func:`resolve`.

    (A NamedTuple rather than a dataclass: this module is imported by every pytest run, and a
    frozen dataclass costs about a millisecond to create.)
    """

    urls: tuple[str, ...]
    ca: str | None
    insecure: bool
    timeout: str | None
    origin: str | None
    headers: tuple[str, ...]
    api: str | None
    echo: bool
    known_failures: str | None = None
    write_baseline: str | None = None
    reports: tuple[str, ...] = ()
    subprotocols: tuple[str, ...] = ()
    browser: bool = False
    browser_path: str | None = None


def read_options(config: pytest.Config) -> GatewayOptions:
    values = {name: _option(config, name, kind) for name, _, _, kind in _OPTIONS}
    env_headers = tuple(
        f"{key[len(ENV_HEADER_PREFIX):].replace('_', '-')}: {value}"
        for key, value in sorted(os.environ.items())
        if key.startswith(ENV_HEADER_PREFIX) and len(key) > len(ENV_HEADER_PREFIX)
    )
    return GatewayOptions(
        urls=tuple(values["url"]),
        ca=values["ca"] or None,
        insecure=bool(values["insecure"]),
        timeout=values["timeout"] or None,
        origin=values["origin"] or None,
        headers=tuple(values["header"]) + env_headers,
        api=values["api"] or None,
        echo=bool(values["echo"]),
        known_failures=values["known_failures"] or None,
        write_baseline=values["write_baseline"] or None,
        reports=tuple(values["report"]),
        subprotocols=tuple(values["subprotocol"]),
        **_browser_options(values),
    )


def _browser_options(values: dict) -> dict:
    """--gateway-browser / --gateway-browser-path; WSGATEWAY_BROWSER=/path/to/chrome means both."""
    env = os.environ.get("WSGATEWAY_BROWSER", "").strip()
    path = values["browser_path"] or None
    enabled = bool(values["browser"])
    if os.sep in env:
        enabled, path = True, path or env
    return {"browser": enabled, "browser_path": path}


def pytest_configure(config: pytest.Config) -> None:
    for level, description in LEVEL_MARKERS.items():
        config.addinivalue_line("markers", f"{level}: {description}")
    options = read_options(config)
    config.stash[fixtures.OPTIONS_KEY] = options
    if options.urls or options.ca or options.timeout or options.headers or options.api or options.subprotocols:
        # Validate now so a bad value is one usage-error line, not a failure per test.
        config.stash[fixtures.RESOLVED_KEY] = fixtures.resolve(options)
    if options.known_failures or options.write_baseline or options.reports:
        _configure_gate(config, options)
    config.pluginmanager.register(fixtures, "wsgateway-fixtures")


BASELINE_KEY = pytest.StashKey[object]()


def _configure_gate(config: pytest.Config, options: GatewayOptions) -> None:
    """Load the known failures (every process), register the report/baseline writer (controller only)."""
    previous = None
    if options.known_failures:
        from .baseline import BaselineError, load

        known_ids = {case.id for case in fixtures.catalogue(config)}
        try:
            previous = config.stash[BASELINE_KEY] = load(options.known_failures, known_ids)
        except BaselineError as exc:
            raise pytest.UsageError(str(exc)) from None
    if options.write_baseline and os.path.isdir(options.write_baseline):
        raise pytest.UsageError(f"--gateway-write-baseline {options.write_baseline}: is a directory")
    if not (options.reports or options.write_baseline) or hasattr(config, "workerinput"):
        return  # xdist workers send their reports to the controller, which writes the files
    from .reports import GateRecorder, check_report_path

    for path in options.reports:
        check_report_path(path)
    found = fixtures.resolved(config)
    targets = [(target_id, found.target(target_id).url if found.targets else "") for target_id in found.target_ids()]
    recorder = GateRecorder(config, options.reports, options.write_baseline, found.settings.secrets, targets, previous)
    config.pluginmanager.register(recorder, "wsgateway-gate")


def _secrets(config: pytest.Config) -> tuple[str, ...]:
    found = config.stash.get(fixtures.RESOLVED_KEY, None)
    return found.settings.secrets if found is not None else ()


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        text = text.replace(secret, "<redacted>")
    return text


def _redact_report(report: pytest.TestReport | pytest.CollectReport, secrets: tuple[str, ...]) -> None:
    """Replace every --gateway-header value in what pytest prints or writes (terminal, JUnit, reports).

    The suite's own messages are redacted already; this covers everything else -- tracebacks with
    ``-l``/``--tb=long``/``-vv``, assertion diffs, captured output -- of any test in the session.
    """
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        report.longrepr = (longrepr[0], longrepr[1], _redact(str(longrepr[2]), secrets))
    elif longrepr is not None:
        text = str(longrepr)
        if any(secret in text for secret in secrets):
            report.longrepr = _redact(text, secrets)
    report.sections = [(title, _redact(content, secrets)) for title, content in report.sections]
    if getattr(report, "wasxfail", None):
        report.wasxfail = _redact(report.wasxfail, secrets)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    secrets = _secrets(item.config)
    if secrets:
        _redact_report(report, secrets)
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_make_collect_report(collector: pytest.Collector):
    report = yield
    secrets = _secrets(collector.config)
    if secrets:
        _redact_report(report, secrets)
    return report


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    options = config.stash.get(fixtures.OPTIONS_KEY, None)
    if options is None or not options.urls:
        return None
    if options.insecure:
        tls = "TLS certificates NOT verified (--gateway-insecure)"
    elif options.ca:
        tls = f"TLS verified against {options.ca}"
    else:
        tls = "TLS verified against the system trust store"
    return [f"wsgateway: {len(options.urls)} target(s): {', '.join(options.urls)}", f"wsgateway: {tls}"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "wsgateway_case" not in metafunc.fixturenames:
        return
    resolved = fixtures.resolved(metafunc.config)
    cases = fixtures.catalogue(metafunc.config)
    params = []
    for target in resolved.target_ids():
        scheme = resolved.scheme_of(target)
        for case in cases:
            if scheme in case.schemes:
                marks = [getattr(pytest.mark, case.level)]
                params.append(pytest.param(case, target, id=f"{case.id}@{target}", marks=marks))
    metafunc.parametrize(("wsgateway_case", "wsgateway_target"), params, indirect=["wsgateway_target"])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    known = config.stash.get(BASELINE_KEY, None)
    for item in items:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("wsgateway_case") if callspec else None
        if case is not None and hasattr(case, "rfc"):
            target = callspec.params["wsgateway_target"]
            item.user_properties.extend([
                ("wsgateway_case", case.id),
                ("wsgateway_level", case.level),
                ("wsgateway_rfc", case.rfc),
                ("wsgateway_target", target),
                ("wsgateway_title", case.title),
            ])
            reason = known.reason(case.id, target) if known is not None else None
            if reason is not None:
                # Strict: when a known failure passes, the run fails until the baseline entry goes.
                item.add_marker(pytest.mark.xfail(strict=True, reason=f"known failure ({known.path}): {reason}"))
                item.user_properties.append(("wsgateway_known_failure", reason))


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> list[str] | None:
    options = config.stash.get(fixtures.OPTIONS_KEY, None)
    if options is None or options.urls:
        return None
    if any("wsgateway_case" in getattr(item, "fixturenames", ()) for item in items):
        return ["wsgateway: target: the embedded reference server (ws:// and wss://, trusting its generated CA)"]
    return None
