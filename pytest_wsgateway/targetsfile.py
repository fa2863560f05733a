"""``--gateway-targets FILE``: many endpoints, each with its own settings, from one YAML file. Pure.

The file (``docs/targets.md``)::

    targets:
      - id: orders-ws                       # the part after @ in test ids
        url: wss://gw.example.com/acme/sandbox/orders
        headers: {X-IBM-Client-Id: "${APIC_CLIENT_ID}"}   # values only by reference to the environment
        ca: certs/gw-ca.pem                 # or insecure: true; relative to this file
        subprotocol: chat                   # or a list
        echo: true
        origin: https://app.example
        api: apis/orders.yaml               # relative to this file
        timeout: 3
        idle: 120                           # seconds a quiet connection must stay open
        secret_param: sig                   # or a list
        rate: 2                             # requests per second to this target
        concurrency: 4                      # of its cases at once
        max_message: 1048576                # bytes the API must carry (the size ladder)

A key is the ``--gateway-*`` option's name; what a target leaves out, the command line (or the
environment, or the ini file) gives. Header values are secrets, so the file holds only references
(``${VAR}``, the whole value or inside it, as in ``Bearer ${TOKEN}``); a literal value is refused
and never shown. Every problem is one :class:`~pytest_wsgateway.targets.TargetError` line naming
the option, the file, the target and the key.

Reading the file (size bound, YAML aliases refused) is :func:`pytest_wsgateway.apidef.read_yaml`;
this module touches no socket and no TLS (the CA check is the caller's ``check_ca``).

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping

from .targets import Target, TargetError, field_value_problem, is_token, parse_url

#: The keys of one target; each but ``id``, ``url`` and ``headers`` is the option's own name.
KEYS = ("id", "url", "headers", "ca", "insecure", "subprotocol", "echo", "origin", "api", "timeout", "secret_param",
        "idle", "rate", "concurrency", "max_message")
#: A target id: what follows ``@`` in a test id, so safe in ``-k``, file names and reports.
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def load_targets(path: str, option: str, *, defaults: Mapping[str, object], environ: Mapping[str, str],
                 check_ca: Callable[[str, str], None] | None = None,
                 warn: Callable[[str], None] | None = None) -> list[Target]:
    """The targets of the file at ``path``, each with ``defaults`` (:class:`Target` fields from the
    command line) where it does not set its own; :class:`TargetError` with one line otherwise.

    ``option`` names where the path came from (the flag, environment variable or ini key);
    ``environ`` resolves ``${VAR}`` references; ``check_ca(path, where)`` vets a CA file. An
    OpenAPI 2.0 / 3.x or AsyncAPI 2.x / 3.x description gives its WebSocket endpoints instead
    (:mod:`pytest_wsgateway.apitargets`); its warnings go to ``warn``.
    """
    from .apidef import ApiDefinitionError, read_yaml

    try:
        document = read_yaml(path, option, "a targets file")
    except ApiDefinitionError as exc:
        raise TargetError(str(exc)) from None
    where = f"{option} {path}"
    if not isinstance(document, dict):
        raise TargetError(f"{where}: expected a mapping with a 'targets' list")
    if "targets" not in document:
        from .apitargets import kind_of, targets_from

        kind = kind_of(document)
        if kind is not None:
            return targets_from(document, kind, path, option, defaults, warn or (lambda message: None))
    unknown = sorted(str(key) for key in document if key != "targets")
    if unknown:
        raise TargetError(f"{where}: unknown key {unknown[0]!r} (expected 'targets', or an OpenAPI / AsyncAPI "
                          f"description)")
    entries = document.get("targets")
    if not isinstance(entries, list) or not entries:
        raise TargetError(f"{where}: 'targets' must be a non-empty list of targets")
    base = os.path.dirname(path)
    targets: list[Target] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        target = _target(entry, where, index, base, defaults, environ, check_ca)
        if target.id in seen:
            raise TargetError(f"{where}: target id {target.id!r} is given twice (ids must be unique)")
        seen.add(target.id)
        targets.append(target)
    return targets


def _target(entry: object, where: str, index: int, base: str, defaults: Mapping[str, object], environ: Mapping[str, str],
            check_ca: Callable[[str, str], None] | None) -> Target:
    if not isinstance(entry, dict):
        raise TargetError(f"{where}: targets[{index}]: expected a mapping (id, url, ...)")
    target_id = entry.get("id")
    if not isinstance(target_id, str) or not SAFE_ID.match(target_id):
        shown = f" {target_id!r}" if isinstance(target_id, str) and len(target_id) <= 80 else ""
        raise TargetError(f"{where}: targets[{index}]: 'id'{shown} must be 1 to 64 letters, digits, '.', '_' "
                          f"or '-', starting with a letter or digit")
    where = f"{where}: target {target_id!r}"
    unknown = sorted(str(key) for key in entry if key not in KEYS)
    if unknown:
        hint = {"subprotocols": "subprotocol", "header": "headers", "ca_file": "ca", "secret_params": "secret_param",
                "ca-file": "ca", "secret-param": "secret_param"}.get(unknown[0])
        raise TargetError(f"{where}: unknown key {unknown[0]!r}"
                          + (f" (did you mean {hint!r}?)" if hint else f" (expected one of: {', '.join(KEYS)})"))
    if "url" not in entry:
        raise TargetError(f"{where}: 'url' is missing (a ws:// or wss:// URL)")
    settings = dict(defaults)
    if "headers" in entry:
        settings["headers"] = _merge(settings.get("headers") or (), _headers(entry["headers"], where, environ))
    if "ca" in entry and entry.get("insecure") is True:
        raise TargetError(f"{where}: 'ca' and 'insecure: true' exclude each other")
    if "ca" in entry:
        ca = _text(entry, "ca", where)
        ca = os.path.join(base, ca) if base and not os.path.isabs(ca) else ca
        if check_ca is not None:
            check_ca(ca, f"{where}: ca")
        settings.update(ca_file=ca, insecure=False)
    for key in ("insecure", "echo"):
        if key in entry:
            if not isinstance(entry[key], bool):
                raise TargetError(f"{where}: '{key}' must be true or false, not {_kind(entry[key])}")
            settings[key] = entry[key]
    if "subprotocol" in entry:
        names = _names(entry, "subprotocol", where)
        bad = next((name for name in names if not is_token(name)), None)
        if bad is not None:
            raise TargetError(f"{where}: subprotocol {bad!r}: a subprotocol name is an HTTP token (RFC 6455 §4.1)")
        settings["subprotocols"] = names
    if "secret_param" in entry:
        settings["secret_params"] = tuple(dict.fromkeys((*(settings.get("secret_params") or ()),
                                                         *_names(entry, "secret_param", where))))
    if "origin" in entry:
        origin = _text(entry, "origin", where)
        if not all("!" <= ch <= "~" for ch in origin):
            raise TargetError(f"{where}: origin {origin!r}: an Origin is visible ASCII (RFC 6454 §6.2)")
        settings["origin"] = origin
    if "timeout" in entry:
        timeout = entry["timeout"]
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 3600:
            raise TargetError(f"{where}: 'timeout' must be a number of seconds above 0 (at most 3600)")
        settings["timeout"] = float(timeout)
    if "idle" in entry:
        idle = entry["idle"]
        if isinstance(idle, bool) or not isinstance(idle, (int, float)) or not 0 < idle <= 86400:
            raise TargetError(f"{where}: 'idle' must be a number of seconds above 0 (at most 86400)")
        settings["idle"] = float(idle)
    if "rate" in entry:
        rate = entry["rate"]
        from .settings import MAX_RATE, MIN_RATE

        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not MIN_RATE <= rate <= MAX_RATE:
            raise TargetError(f"{where}: 'rate' must be a number of requests per second from 1/3600 (one an hour) "
                              f"to 100000")
        settings["rate"] = float(rate)
    if "concurrency" in entry:
        concurrency = entry["concurrency"]
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or not 1 <= concurrency <= 256:
            raise TargetError(f"{where}: 'concurrency' must be a whole number from 1 to 256 (cases at once)")
        settings["concurrency"] = concurrency
    if "max_message" in entry:
        size = entry["max_message"]
        if isinstance(size, bool) or not isinstance(size, int) or not 0 < size <= 1 << 40:
            raise TargetError(f"{where}: 'max_message' must be a whole number of bytes above 0")
        settings["max_message"] = size
    if "api" in entry:
        from .apidef import ApiDefinitionError, load_api

        api = _text(entry, "api", where)
        try:
            settings["api"] = load_api(os.path.join(base, api) if base and not os.path.isabs(api) else api,
                                       f"{where}: api")
        except ApiDefinitionError as exc:
            raise TargetError(str(exc)) from None
    url = _url(_text(entry, "url", where), where, environ, settings.get("secret_params") or ())
    return url_target(url, target_id, settings, where, environ)


def url_target(url: str, target_id: str, settings: Mapping[str, object], where: str,
               environ: Mapping[str, str] = {}) -> Target:  # noqa: B006 (read only)
    """:func:`~pytest_wsgateway.targets.parse_url` for a URL after ``${VAR}`` expansion: a message
    shows no value that came from the environment."""
    try:
        return parse_url(url, target_id=target_id, option=f"{where}: url", **settings)
    except TargetError as exc:
        from .redact import Redactor

        secrets = [value for value in environ.values() if value and value in url]
        raise TargetError(Redactor(secrets).text(str(exc))) from None


def _url(raw: str, where: str, environ: Mapping[str, str], secret_params) -> str:
    """The URL with its ``${VAR}`` references expanded; a credential query parameter must be one."""
    from .redact import query_secrets

    for value in query_secrets(raw, secret_params):
        if not _REFERENCE.search(value):
            name = next(item.partition("=")[0] for item in raw.partition("?")[2].split("&")
                        if item.partition("=")[2] == value)
            raise TargetError(f"{where}: url: the query parameter {name!r} holds a credential: give it by "
                              f"reference to the environment, e.g. {name}=${{VAR}} (the value is not shown)")
    if "$" not in raw:
        return raw
    return _expand(raw, f"{where}: url", environ, required=False)


def _headers(value: object, where: str, environ: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise TargetError(f"{where}: 'headers' must be a mapping of header name to \"${{VAR}}\"")
    headers: list[tuple[str, str]] = []
    for name, text in value.items():
        if not isinstance(name, str) or not is_token(name):
            raise TargetError(f"{where}: headers: {str(name)[:40]!r} is not a header name (RFC 9110 §5.1 token)")
        if any(name.lower() == seen.lower() for seen, _ in headers):
            raise TargetError(f"{where}: headers: {name!r} is given twice")
        here = f"{where}: header {name!r}"
        if not isinstance(text, str):
            raise TargetError(f"{here}: the value must be a string such as \"${{VAR}}\", not {_kind(text)} "
                              f"(the value is not shown)")
        expanded = _expand(text, here, environ, required=True)
        if any(ch in expanded for ch in "\r\n\0") or field_value_problem(expanded) is not None:
            raise TargetError(f"{here}: the value must be visible ASCII or Latin-1 text without CR, LF or NUL "
                              f"(RFC 9110 §5.5; the value is not shown)")
        headers.append((name, expanded.strip()))
    return tuple(headers)


def _expand(text: str, here: str, environ: Mapping[str, str], *, required: bool) -> str:
    """``text`` with each ``${VAR}`` replaced from ``environ``; with ``required`` there must be one
    (a literal header value is a secret written into a file)."""
    rest = _REFERENCE.sub("", text)
    if "$" in rest:
        raise TargetError(f"{here}: a '$' that is not a ${{VAR}} reference (the value is not shown)")
    names = _REFERENCE.findall(text)
    if required and not names:
        raise TargetError(f"{here}: a literal value is not accepted; give it by reference to the environment, "
                          f"e.g. \"${{VAR}}\" or \"Bearer ${{VAR}}\" (the value is not shown)")
    for name in names:
        if name not in environ:
            raise TargetError(f"{here}: the environment variable {name} is not set")
        if not environ[name].strip():
            raise TargetError(f"{here}: the environment variable {name} is empty")
    return _REFERENCE.sub(lambda match: environ[match.group(1)], text)


def _merge(defaults, own) -> tuple[tuple[str, str], ...]:
    """The command line's headers, each replaced by the target's header of the same name, then the rest."""
    names = {name.lower() for name, _ in own}
    return tuple(pair for pair in defaults if pair[0].lower() not in names) + tuple(own)


def _text(entry: dict, key: str, where: str) -> str:
    value = entry[key]
    if not isinstance(value, str) or not value.strip():
        raise TargetError(f"{where}: '{key}' must be a non-empty string, not {_kind(value)}")
    return value.strip()


def _names(entry: dict, key: str, where: str) -> tuple[str, ...]:
    """A string or a list of strings."""
    value = entry[key]
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) and item.strip() for item in items):
        raise TargetError(f"{where}: '{key}' must be a name or a list of names, not {_kind(value)}")
    return tuple(item.strip() for item in items)


def _kind(value: object) -> str:
    """How a message names a wrong value's type (never the value: it may be a secret)."""
    if value is None:
        return "empty"
    if value == "":
        return "an empty string"
    return {bool: "true/false", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "a mapping"}.get(type(value), type(value).__name__)
