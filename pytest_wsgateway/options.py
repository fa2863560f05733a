"""The options layer: the option table, command line / environment / ini precedence, validation.

:func:`add_options` declares every ``--gateway-*`` option (each with an ini key and an
environment variable); :func:`read_options` reads them as given (strings, cheap: this runs in
every pytest process); :func:`resolve` validates them into a frozen
:class:`~pytest_wsgateway.settings.Settings` holding real
:class:`~pytest_wsgateway.targets.Target` records, or raises :class:`pytest.UsageError` with one
line. The command line wins, then the environment, then the ini file.

Only pytest and the standard library are imported at module level: the plugin imports this
module at start-up.

PYTEST_DONT_REWRITE: no assertions here, so pytest need not rewrite (and recompile) this module.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from .cases import Case
    from .settings import Settings

#: name, metavar (None for a flag), help, kind ("bool", "str" or "list")
OPTIONS = (
    ("url", "URL", "a ws:// or wss:// URL to test (repeatable); without one, the embedded reference server", "list"),
    ("targets", "FILE", "YAML file of targets, each with its own URL, headers (by ${VAR} reference), CA, "
     "subprotocols, echo, origin, API definition, timeout, rate and concurrency; the other options are their defaults "
     "(docs/targets.md)", "str"),
    ("ca", "PATH", "CA certificate file (PEM) that signs the gateway's certificate", "str"),
    ("insecure", None, "do not verify the gateway's TLS certificate or host name (like websocat --insecure)", "bool"),
    ("timeout", "SECONDS", "limit for each network step: connect, TLS, response head, each frame (default 5)", "str"),
    ("origin", "ORIGIN", "Origin header to send with every handshake", "str"),
    ("header", "'NAME: VALUE'", "extra request header, e.g. a client id (repeatable; values are never printed; "
     "in the env one header per line)", "list"),
    ("secret_param", "NAME", "a URL query parameter whose value is a secret, shown as <redacted> (repeatable; "
     "client_id, client_secret, api_key, apikey, key, token, access_token, id_token, secret, password, sig, "
     "signature and auth always are)", "list"),
    ("api", "PATH", "OpenAPI 2.0 (Swagger) definition of the API behind the URL(s)", "str"),
    ("echo", None, "the endpoint echoes messages: also check that a text and a binary message come back", "bool"),
    ("subprotocol", "NAME", "a subprotocol the API speaks (repeatable); default for the embedded server: "
     "its own (wsgateway_subprotocols)", "list"),
    ("concurrency", "N", "run up to N exchanges with each target at once (default 64; 1 = one after another)",
     "str"),
    ("rate", "PER_SECOND", "send at most this many requests per second to each target (API gateways meter "
     "calls; default: no cap)", "str"),
    ("retry_budget", "SECONDS", "how long the run may wait out rate limits (429, 503 + Retry-After) in all "
     "before rate-limited cases end inconclusive (default 60)", "str"),
    ("http2", "off|auto|on", "also run the HTTP/2 family (WebSockets over HTTP/2, RFC 8441; cases h2-*): "
     "auto = wss:// targets, when the server offers it (ALPN h2 and SETTINGS_ENABLE_CONNECT_PROTOCOL), "
     "else the family is skipped; on = every target (ws:// as h2c with prior knowledge), and a server that "
     "does not offer it fails h2-settings-enable-connect-protocol (default: auto for the embedded reference "
     "server, off for --gateway-url / --gateway-targets; docs/http2.md)", "str"),
    ("idle", "SECONDS", "the gateway must keep a quiet WebSocket open this long: the opt-in, slow case "
     "tunnel-idle waits that long, then pings (marker wsgateway_slow; a cut-off before it is reported in "
     "seconds; docs/tunnel.md)", "str"),
    ("browser", None, "also open each target from a real headless Chromium and compare with the suite's verdict "
     "(conformance/test_browser.py); env WSGATEWAY_BROWSER may also be the path of a Chromium", "bool"),
    ("browser_path", "PATH", "the Chromium/Chrome binary for --gateway-browser (default: chromium on PATH)", "str"),
    # The CI gate (baseline.py, reports.py; imported only when these are used):
    ("known_failures", "FILE", "YAML of known failures (case id -> reason, or -> {target id: reason}); "
     "they become strict xfails, so a fixed case fails the run until it is removed", "str"),
    ("write_baseline", "FILE", "after the run, write the cases that failed as a --gateway-known-failures file", "str"),
    ("report", "PATH", "write a report; the format follows the extension: .json, .md or .html (repeatable)", "list"),
    ("vantage", "NAME", "where this run is made from (e.g. eu-west), recorded in the JSON report; "
     "wsgateway-report merge names its columns after it (default: the host name)", "str"),
    # The tunnel's size ladder (docs/tunnel.md):
    ("max_message", "BYTES", "the message size the API must carry: a size-ladder message up to it that does not "
     "come back intact fails (without it a limit announced with close 1009/1001 is reported, not failed); above "
     "1 MiB it also runs the rungs over 1 MiB, up to 16 MiB (docs/tunnel.md)", "str"),
)
ENV_HEADER_PREFIX = "WSGATEWAY_HEADER_"
BROWSER_ENV = "WSGATEWAY_BROWSER"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")

OPTIONS_KEY = pytest.StashKey["GatewayOptions"]()
SETTINGS_KEY = pytest.StashKey["Settings"]()
EXECUTOR_KEY = pytest.StashKey[object]()


def add_options(parser: pytest.Parser) -> None:
    """Declare every option: ``--gateway-NAME``, ini ``wsgateway_NAME``, env ``WSGATEWAY_NAME``."""
    group = parser.getgroup("wsgateway", "WebSocket gateway conformance (pytest-wsgateway)")
    for name, metavar, help_text, kind in OPTIONS:
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


def _option(config: pytest.Config, name: str, kind: str) -> tuple[object, str]:
    """The option's value and where it came from: the command line, else WSGATEWAY_<NAME>, else the ini key.

    The second item names the source in a message: the flag, the environment variable, or the
    ini key and its file. From the environment, a list is split on whitespace -- except the
    headers, one per line (a header value holds spaces: ``X-IBM-Client-Id: abc123``).
    """
    flag = f"--gateway-{name.replace('_', '-')}"
    value = config.getoption(f"gateway_{name}")
    if value is not None:
        return value, flag
    variable = f"WSGATEWAY_{name.upper()}"
    env = os.environ.get(variable)
    if env is not None and env.strip():
        if kind == "bool":
            return env.strip().lower() in _TRUE, variable
        if kind == "list":
            items = env.splitlines() if name == "header" else env.split()
            return [item for item in items if item.strip()], variable
        return env.strip(), variable
    key = f"wsgateway_{name}"
    inipath = getattr(config, "inipath", None)
    return (config.getini(key) or ([] if kind == "list" else None)), (f"{key} ({inipath.name})" if inipath else key)


class GatewayOptions(NamedTuple):
    """The options as given (strings), before validation; see :func:`resolve`.

    (A NamedTuple rather than a dataclass: this is built in every pytest run, and a frozen
    dataclass costs about a millisecond to define.)
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
    rate: str | None = None
    retry_budget: str | None = None
    concurrency: str | None = None
    secret_params: tuple[str, ...] = ()
    targets: str | None = None
    http2: str | None = None
    idle: str | None = None
    vantage: str | None = None
    #: (option name, where its value came from) -- see :meth:`source`
    sources: tuple[tuple[str, str], ...] = ()
    #: where each of ``headers`` came from, in the same order (empty: the command line)
    header_sources: tuple[str, ...] = ()
    max_message: str | None = None

    def source(self, name: str) -> str:
        """How a message names option ``name``: its flag, environment variable, or ini key and file."""
        return dict(self.sources).get(name) or f"--gateway-{name.replace('_', '-')}"

    def header_source(self, index: int) -> str:
        return self.header_sources[index] if index < len(self.header_sources) else "--gateway-header"

    @property
    def validate_early(self) -> bool:
        """Whether options that need validating were given (then a bad one stops the run at once)."""
        return bool(self.urls or self.targets or self.ca or self.timeout or self.headers or self.api
                    or self.subprotocols or self.rate or self.retry_budget or self.concurrency or self.http2
                    or self.idle or self.max_message or self.origin or self.browser_path)


def browser_env(value: str | None = None) -> tuple[bool, str | None]:
    """``WSGATEWAY_BROWSER`` read once: (enabled, Chromium path or name).

    ``1``/``true``/``yes``/``on`` enable the probe; ``0``/``false``/``no``/``off`` or empty do not;
    anything else is the Chromium to use (a path, or a name on PATH) and enables the probe.
    """
    value = (os.environ.get(BROWSER_ENV, "") if value is None else value).strip()
    if value.lower() in _TRUE:
        return True, None
    if value.lower() in _FALSE:
        return False, None
    return True, value


def read_options(config: pytest.Config) -> GatewayOptions:
    """The options as given on the command line, in the environment and in the ini file."""
    given = {name: _option(config, name, kind) for name, _, _, kind in OPTIONS}
    values = {name: value for name, (value, _) in given.items()}
    env_headers = [
        (f"{key[len(ENV_HEADER_PREFIX):].replace('_', '-')}: {value}", key)
        for key, value in sorted(os.environ.items())
        if key.startswith(ENV_HEADER_PREFIX) and len(key) > len(ENV_HEADER_PREFIX)
    ]
    headers = [(text, given["header"][1]) for text in values["header"]] + env_headers
    env_browser, env_path = browser_env()
    return GatewayOptions(
        urls=tuple(values["url"]),
        ca=values["ca"] or None,
        insecure=bool(values["insecure"]),
        timeout=values["timeout"] or None,
        origin=values["origin"] or None,
        headers=tuple(text for text, _ in headers),
        api=values["api"] or None,
        echo=bool(values["echo"]),
        known_failures=values["known_failures"] or None,
        write_baseline=values["write_baseline"] or None,
        reports=tuple(values["report"]),
        subprotocols=tuple(values["subprotocol"]),
        browser=bool(values["browser"]) or env_browser,
        browser_path=values["browser_path"] or env_path,
        rate=values["rate"] or None,
        concurrency=values["concurrency"] or None,
        retry_budget=values["retry_budget"] or None,
        secret_params=tuple(values["secret_param"]),
        targets=values["targets"] or None,
        http2=values["http2"] or None,
        idle=values["idle"] or None,
        vantage=values["vantage"] or None,
        sources=tuple((name, BROWSER_ENV if name == "browser_path" and not values[name] and env_path else source)
                      for name, (_, source) in given.items()),
        header_sources=tuple(source for _, source in headers),
        max_message=values["max_message"] or None,
    )


def resolve(options: GatewayOptions) -> Settings:
    """Check every option value into :class:`~pytest_wsgateway.settings.Settings`; raise
    :class:`pytest.UsageError` with one line for a bad one (see :mod:`pytest_wsgateway.validation`)."""
    from .validation import resolve as validate

    return validate(options)


def settings(config: pytest.Config) -> Settings:
    """The run's resolved settings (validated once, then kept on ``config.stash``)."""
    if SETTINGS_KEY not in config.stash:
        config.stash[SETTINGS_KEY] = resolve(config.stash[OPTIONS_KEY])
    return config.stash[SETTINGS_KEY]


def executor(config: pytest.Config):
    """The run's executor (:class:`~pytest_wsgateway.executor.SerialExecutor`), made once."""
    if EXECUTOR_KEY not in config.stash:
        from .executor import ConcurrentExecutor, SerialExecutor

        found = settings(config)
        # a targets file may give a target more (or fewer) cases at once than --gateway-concurrency
        most = max([found.concurrency, *(target.concurrency or 0 for target in found.targets)])
        if most > 1 and not hasattr(config, "workerinput"):
            config.stash[EXECUTOR_KEY] = ConcurrentExecutor(most, default_concurrency=found.concurrency,
                                                            rate=found.rate, retry_budget=found.retry_budget)
        else:  # one after another; under xdist a worker learns its items one by one
            workers = getattr(config, "workerinput", {}).get("workercount", 1)
            config.stash[EXECUTOR_KEY] = SerialExecutor(rate=found.rate, retry_budget=found.retry_budget,
                                                        shared=workers > 1)  # the other workers send too
    return config.stash[EXECUTOR_KEY]


def catalogue(config: pytest.Config | None = None) -> tuple[Case, ...]:
    """The shipped case catalogue; a broken case file is a usage error (one line)."""
    from .cases import CatalogueError, shipped_catalogue

    try:
        return shipped_catalogue()
    except CatalogueError as exc:
        raise pytest.UsageError(f"conformance catalogue: {exc}") from None
