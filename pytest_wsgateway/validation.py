"""The options layer's second half: the values as given (:class:`~pytest_wsgateway.options.GatewayOptions`)
validated into a frozen :class:`~pytest_wsgateway.settings.Settings` holding real
:class:`~pytest_wsgateway.targets.Target` records.

Every bad value is one :class:`pytest.UsageError` line (pytest exits 4) that names the option as the
user gave it -- the flag, the environment variable or the ini key -- and never a secret. Imported
only when a run uses the suite (the plugin's start-up reads the options with :mod:`.options` alone).

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # pragma: no cover
    from .settings import Settings


#: ``--gateway-http2``: off (no HTTP/2 cases), auto (wss:// targets; skipped where not offered), on.
HTTP2_MODES = ("off", "auto", "on")
#: Without ``--gateway-http2``: the embedded reference server, which speaks RFC 8441 on its wss://
#: listener, runs the HTTP/2 family (``auto``); a gateway named by URL or targets file does not
#: (``off``: its run is what it was before the family existed, until asked).
HTTP2_DEFAULT_EMBEDDED, HTTP2_DEFAULT_GIVEN = "auto", "off"


def resolve(options) -> Settings:  # options: pytest_wsgateway.options.GatewayOptions
    """Check every option value; raise :class:`pytest.UsageError` with one line for a bad one.

    A message names the option as the user gave it: the flag, the environment variable or the
    ini key (:meth:`GatewayOptions.source`).
    """
    from .apidef import ApiDefinitionError, load_api
    from .settings import Settings
    from .targets import EMBEDDED_TARGETS, TargetError, is_token, parse_header, parse_url, unique_ids

    source = options.source
    try:
        timeout = float(options.timeout) if options.timeout else 5.0
        if not 0 < timeout <= 3600:
            raise ValueError
    except ValueError:
        raise pytest.UsageError(f"{source('timeout')} {options.timeout!r}: expected a number of seconds above 0 "
                                f"(at most 3600)") from None
    from .settings import DEFAULT_CONCURRENCY, MAX_RATE, MAX_RETRY_BUDGET, MIN_RATE

    rate = _seconds(options.rate, source("rate"), None,
                    "a number of requests per second from 1/3600 (one an hour) to 100000", low=MIN_RATE, high=MAX_RATE)
    retry_budget = _seconds(options.retry_budget, source("retry_budget"), 60.0,
                            "a number of seconds, 0 or more (at most 86400)", zero=True, high=MAX_RETRY_BUDGET)

    concurrency = _count(options.concurrency, source("concurrency"), DEFAULT_CONCURRENCY)
    idle = _seconds(options.idle, source("idle"), None, "a number of seconds above 0 (at most 86400)")
    if idle is not None and idle > 86400:
        raise pytest.UsageError(f"{source('idle')} {options.idle!r}: expected a number of seconds above 0 (at most 86400)")
    max_message = message_size(options.max_message, source("max_message"))
    http2 = (options.http2 or "").strip().lower() or None
    if http2 is not None and http2 not in HTTP2_MODES:
        raise pytest.UsageError(f"{source('http2')} {options.http2!r}: expected one of {', '.join(HTTP2_MODES)}")
    if options.ca:
        _check_ca(options.ca, source("ca"))
    bad = next((name for name in options.subprotocols if not is_token(name)), None)
    if bad is not None:
        raise pytest.UsageError(f"{source('subprotocol')} {bad!r}: a subprotocol name is an HTTP token (RFC 6455 §4.1)")
    if options.browser_path and not _executable(options.browser_path):
        raise pytest.UsageError(f"{source('browser_path')} {options.browser_path!r}: no Chromium there (a path to "
                                f"an executable, or a name on PATH)")
    if options.origin and not all("!" <= ch <= "~" for ch in options.origin):
        raise pytest.UsageError(f"{source('origin')} {options.origin!r}: an Origin is visible ASCII (RFC 6454 §6.2)")
    try:
        headers = tuple(parse_header(text, options.header_source(index)) for index, text in enumerate(options.headers))
        api = load_api(options.api, source("api")) if options.api else None
        defaults = {"headers": headers, "origin": options.origin, "subprotocols": tuple(options.subprotocols),
                    "api": api, "timeout": timeout, "secret_params": tuple(options.secret_params),
                    "http2": http2 or HTTP2_DEFAULT_GIVEN, "idle": idle, "max_message": max_message}
        targets = unique_ids([parse_url(url, ca_file=options.ca, insecure=options.insecure, echo=options.echo,
                                        option=source("url"), **defaults) for url in options.urls])
        warnings: list[str] = []
        if options.targets:
            targets += _file_targets(options, {**defaults, "ca_file": options.ca, "insecure": options.insecure,
                                               "echo": options.echo}, {target.id for target in targets}, warnings)
        if not targets:
            embedded = {**defaults, "http2": http2 or HTTP2_DEFAULT_EMBEDDED}
            targets = [target.with_settings(**embedded) for target in EMBEDDED_TARGETS]
    except (TargetError, ApiDefinitionError) as exc:
        raise pytest.UsageError(str(exc)) from None
    return Settings(targets=tuple(targets), timeout=timeout, origin=options.origin, headers=headers,
                    echo=options.echo, api=api, subprotocols=tuple(options.subprotocols),
                    known_failures=options.known_failures, write_baseline=options.write_baseline,
                    reports=options.reports, browser=options.browser, browser_path=options.browser_path,
                    rate=rate, retry_budget=retry_budget, concurrency=concurrency, idle=idle,
                    http2=http2 or (HTTP2_DEFAULT_EMBEDDED if targets[0].embedded else HTTP2_DEFAULT_GIVEN),
                    warnings=tuple(warnings))


def _file_targets(options, defaults: dict, taken: set[str], warnings: list[str]) -> list:
    """The ``--gateway-targets`` file's targets (:mod:`pytest_wsgateway.targetsfile`); an id that a
    ``--gateway-url`` target has already is a usage error."""
    from .targets import TargetError
    from .targetsfile import load_targets

    option = options.source("targets")
    found = load_targets(options.targets, option, defaults=defaults, environ=os.environ, check_ca=_check_ca,
                         warn=warnings.append)
    clash = next((target.id for target in found if target.id in taken), None)
    if clash is not None:
        raise TargetError(f"{option} {options.targets}: target id {clash!r} is also the id of a --gateway-url "
                          f"target (ids must be unique)")
    return found


#: The largest ``--gateway-max-message`` (1 TiB: a number, not a buffer; the ladder stops at 16 MiB).
MAX_MESSAGE_OPTION = 1 << 40


def message_size(text: str | None, flag: str) -> int | None:
    """``--gateway-max-message``: a whole number of bytes above 0, or None when not given; usage error otherwise."""
    if not text:
        return None
    value = text.strip().replace("_", "")
    if not (value.isascii() and value.isdigit() and 0 < int(value) <= MAX_MESSAGE_OPTION):
        raise pytest.UsageError(f"{flag} {text!r}: expected a whole number of bytes above 0, e.g. 1048576")
    return int(value)


def _count(text: str | None, flag: str, default: int) -> int:
    """A whole number from 1 to 256; usage error otherwise."""
    if not text:
        return default
    value = text.strip()
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= 256):
        raise pytest.UsageError(f"{flag} {text!r}: expected a whole number from 1 to 256")
    return int(value)


def _check_ca(path: str, option: str) -> None:
    """The CA file loads into an SSL context, else a usage error (checked for ws:// targets too:
    a file that cannot be a CA is a mistake wherever it is given)."""
    if os.path.isdir(path):
        raise pytest.UsageError(f"{option} {path}: is a directory")
    if not os.path.isfile(path):
        raise pytest.UsageError(f"{option} {path}: {'not a regular file' if os.path.exists(path) else 'no such file'}")
    import ssl  # deferred: the plugin module imports only pytest and the standard library's cheap parts

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        context.load_verify_locations(cafile=path)
    except ssl.SSLError as exc:
        reason = str(exc.reason or exc).replace("_", " ").lower() if exc.reason else str(exc)
        raise pytest.UsageError(f"{option} {path}: not a PEM CA certificate ({reason})") from None
    except OSError as exc:
        raise pytest.UsageError(f"{option} {path}: cannot read: {exc.strerror or exc}") from None
    except ValueError as exc:  # e.g. a NUL byte in the path
        raise pytest.UsageError(f"{option} {path}: cannot read: {exc}") from None
    if not context.cert_store_stats().get("x509"):
        raise pytest.UsageError(f"{option} {path}: not a PEM CA certificate (no certificate in the file)")


def _seconds(text: str | None, flag: str, default: float | None, expected: str, zero: bool = False,
             low: float = 0.0, high: float = float("inf")) -> float | None:
    """A positive (or, with ``zero``, non-negative) finite number from ``text``, at least ``low`` and
    at most ``high``; usage error otherwise (a rate of 1e-300 once overflowed the pacing clock)."""
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value > 0 or (zero and value == 0)) or value == float("inf") or value > high or (value and value < low):
        raise pytest.UsageError(f"{flag} {text!r}: expected {expected}")
    return value


def _executable(name: str) -> bool:
    """Whether ``name`` is an executable: a name on PATH, or a path to an executable file."""
    import shutil

    return bool(shutil.which(name)) or (os.path.isfile(name) and os.access(name, os.X_OK))
