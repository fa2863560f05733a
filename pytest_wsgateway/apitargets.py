"""``--gateway-targets`` pointed at an API description: the WebSocket endpoints it declares. Pure.

* **OpenAPI 2.0** (Swagger; IBM API Connect's shape): ``host`` (API Connect's catalog host may carry
  the ``/<org>/<catalog>`` prefix, e.g. ``gw.example.com/acme/sandbox``), ``basePath``, ``paths``
  and ``schemes``: one target per path for each of ``wss`` / ``ws`` in ``schemes`` (``[https, wss]``
  gives wss targets). The file is also each target's API definition (``--gateway-api``), unless
  the command line names one.
* **OpenAPI 3.x**: each ``servers`` URL (top level or a path's own) that is ``ws://`` or ``wss://``,
  server variables filled with their ``default``, joined with each path.
* **AsyncAPI 2.x / 3.x**: each server whose ``protocol`` is ``ws`` or ``wss``, joined with each
  channel that has a ``ws`` binding (2.x: the channel name is its path; 3.x: ``host`` + ``pathname``
  + the channel's ``address``; a channel's ``servers`` list restricts it). A binding ``method`` other
  than ``GET`` is a warning: the opening handshake is a GET (RFC 6455 §4.1), so the description
  is wrong, and the target is still tested with GET.

Paths with a template (``/orders/{id}``) are skipped with a warning: there is no value to test
with. Target ids are those ``--gateway-url`` gives the same URL (``wss-host-path``). Only local
``$ref`` (``#/...``) are followed. Every problem is one :class:`~pytest_wsgateway.targets.TargetError`
line; warnings go to ``warn``.

(No AsyncAPI parser from PyPI: the ones there were pre-alpha or unmaintained when this was written
-- see docs/targets.md; this reads the few fields it needs with PyYAML.)

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from .targets import Target, TargetError, parse_url, unique_ids

_TEMPLATE = re.compile(r"\{([^{}]*)\}")


def kind_of(document: Mapping) -> str | None:
    """``"openapi2"``, ``"openapi3"``, ``"asyncapi2"``, ``"asyncapi3"``, or None (not an API description)."""
    if str(document.get("swagger", "")) == "2.0":
        return "openapi2"
    for key, kinds in (("openapi", ("3",)), ("asyncapi", ("2", "3"))):
        version = str(document.get(key, ""))
        if version.split(".")[0] in kinds and version[:1].isdigit():
            return f"{key}{version.split('.')[0]}"
    return None


def targets_from(document: Mapping, kind: str, path: str, option: str, defaults: Mapping[str, object],
                 warn: Callable[[str], None]) -> list[Target]:
    """The targets an API description declares (``kind`` from :func:`kind_of`), each with ``defaults``."""
    where = f"{option} {path}"
    urls = {"openapi2": _openapi2, "openapi3": _openapi3}.get(kind, _asyncapi)(document, kind, where, warn)
    if not urls:
        name = {"openapi2": "OpenAPI 2.0", "openapi3": "OpenAPI 3", "asyncapi2": "AsyncAPI 2",
                "asyncapi3": "AsyncAPI 3"}[kind]
        raise TargetError(f"{where}: this {name} description declares no ws:// or wss:// endpoint"
                          + (" (the ws binding marks a WebSocket channel)" if kind.startswith("asyncapi") else ""))
    settings = dict(defaults)
    if kind == "openapi2" and not settings.get("api"):
        from .apidef import ApiDefinitionError, load_api

        try:
            settings["api"] = load_api(path, option)
        except ApiDefinitionError as exc:
            raise TargetError(str(exc)) from None
    targets = []
    for url in dict.fromkeys(urls):
        try:
            targets.append(parse_url(url, option=where, **settings))
        except TargetError as exc:
            raise TargetError(f"{exc} (from the description)") from None
    return unique_ids(targets)


def _openapi2(document: Mapping, kind: str, where: str, warn) -> list[str]:
    schemes = document.get("schemes") or []
    if not isinstance(schemes, list):
        raise TargetError(f"{where}: schemes must be a list")
    schemes = [scheme for scheme in ("wss", "ws") if scheme in {str(s).lower() for s in schemes}]
    if not schemes:
        raise TargetError(f"{where}: schemes lists neither wss nor ws (an API Connect WebSocket API lists "
                          f"[https, wss])")
    host = document.get("host")
    if not isinstance(host, str) or not host.strip():
        raise TargetError(f"{where}: no host: give the gateway's host (API Connect: the catalog's host, e.g. "
                          f"gw.example.com/<org>/<catalog>), or test the URL with --gateway-url")
    if "$(" in host:
        raise TargetError(f"{where}: host {host!r} is an API Connect variable: replace it with the catalog's "
                          f"host (e.g. gw.example.com/<org>/<catalog>)")
    base = _join(host.strip().rstrip("/"), str(document.get("basePath") or "/"))
    paths = _paths(document, where)
    return [f"{scheme}://{_join(base, route)}" for scheme in schemes
            for route in _routes(paths, where, warn)]


def _openapi3(document: Mapping, kind: str, where: str, warn) -> list[str]:
    paths = _paths(document, where)
    top = _servers3(document.get("servers"), where, warn)
    urls = []
    for route in _routes(paths, where, warn):
        item = _deref(document, paths[route], where)
        own = _servers3(item.get("servers"), where, warn) if isinstance(item, dict) else []
        urls += [_join(server, route) for server in (own or top)]
    return urls


def _servers3(servers: object, where: str, warn) -> list[str]:
    found = []
    for server in servers if isinstance(servers, list) else []:
        if not isinstance(server, dict) or not isinstance(server.get("url"), str):
            continue
        url = _fill(server["url"], server.get("variables"), where)
        if url.split("://", 1)[0].lower() in ("ws", "wss"):
            found.append(url.rstrip("/"))
    return found


def _asyncapi(document: Mapping, kind: str, where: str, warn) -> list[str]:
    servers = document.get("servers")
    channels = document.get("channels")
    if not isinstance(servers, dict) or not isinstance(channels, dict):
        raise TargetError(f"{where}: an AsyncAPI description needs 'servers' and 'channels' mappings")
    bases = {}
    for name, server in servers.items():
        server = _deref(document, server, where)
        if not isinstance(server, dict) or str(server.get("protocol", "")).lower() not in ("ws", "wss"):
            continue
        protocol = str(server["protocol"]).lower()
        if kind == "asyncapi3":
            host = _fill(str(server.get("host", "")), server.get("variables"), where)
            base = host.rstrip("/") + _fill(str(server.get("pathname") or ""), server.get("variables"), where)
        else:
            base = _fill(str(server.get("url", "")), server.get("variables"), where)
        base = base.split("://", 1)[1] if "://" in base else base
        if base:
            bases[str(name)] = f"{protocol}://{base.rstrip('/')}"
    urls = []
    for name, channel in channels.items():
        channel = _deref(document, channel, where)
        if not isinstance(channel, dict):
            continue
        bindings = _deref(document, channel.get("bindings"), where)
        binding = _deref(document, bindings.get("ws"), where) if isinstance(bindings, dict) else None
        if binding is None and not (isinstance(bindings, dict) and "ws" in bindings):
            continue
        address = channel.get("address", None) if kind == "asyncapi3" else str(name)
        if not isinstance(address, str) or not address:
            warn(f"{where}: channel {name!r} has no address; skipped")
            continue
        if _TEMPLATE.search(address):
            warn(f"{where}: channel {name!r} ({address}) has parameters; skipped (give its URL with --gateway-url)")
            continue
        method = str(binding.get("method", "GET")) if isinstance(binding, dict) else "GET"
        if method.upper() != "GET":
            warn(f"{where}: channel {name!r}: the ws binding's method is {method}, but a WebSocket opening "
                 f"handshake is a GET (RFC 6455 §4.1); the description is wrong, the target is tested with GET")
        allowed = _channel_servers(channel.get("servers"), kind)
        for server, base in bases.items():
            if allowed is None or server in allowed:
                urls.append(_join(base, address if address.startswith("/") else "/" + address))
    return urls


def _channel_servers(servers: object, kind: str) -> set[str] | None:
    """The server names a channel is restricted to (2.x: names; 3.x: ``$ref: '#/servers/<name>'``)."""
    if not isinstance(servers, list) or not servers:
        return None
    names = set()
    for item in servers:
        if isinstance(item, dict) and isinstance(item.get("$ref"), str):
            names.add(item["$ref"].rsplit("/", 1)[-1].replace("~1", "/").replace("~0", "~"))
        elif isinstance(item, str):
            names.add(item)
    return names


def _paths(document: Mapping, where: str) -> dict:
    paths = document.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise TargetError(f"{where}: the description declares no paths")
    return {str(key): value for key, value in paths.items()}


def _routes(paths: dict, where: str, warn) -> list[str]:
    routes = []
    for route in paths:
        if _TEMPLATE.search(route):
            warn(f"{where}: path {route!r} has parameters; skipped (give its URL with --gateway-url)")
        elif route.startswith("/"):
            routes.append(route)
    return routes


def _join(base: str, route: str) -> str:
    """``base`` + ``route``; the route ``/`` stands for ``base`` itself (as in :meth:`ApiInfo.routes`)."""
    base = base.rstrip("/")
    if route == "/":
        return base if "/" in base.split("://", 1)[-1] else base + "/"
    return base + ("" if route.startswith("/") else "/") + route


def _fill(text: str, variables: object, where: str) -> str:
    """Server variables ``{name}`` replaced by their ``default``; one without a default is an error."""
    def value(match: re.Match) -> str:
        spec = variables.get(match.group(1)) if isinstance(variables, dict) else None
        if not isinstance(spec, dict) or "default" not in spec:
            raise TargetError(f"{where}: server variable {match.group(1)!r} in {text!r} has no default")
        return str(spec["default"])

    return _TEMPLATE.sub(value, text)


def _deref(document: Mapping, node: object, where: str, depth: int = 0) -> object:
    """``node``, or what its local ``$ref`` (``#/a/b``) points at."""
    if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
        return node
    ref = node["$ref"]
    if not ref.startswith("#/") or depth > 16:
        raise TargetError(f"{where}: $ref {ref!r}: only local references (#/...) are followed")
    found: object = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(found, dict) or part not in found:
            raise TargetError(f"{where}: $ref {ref!r} points at nothing")
        found = found[part]
    return _deref(document, found, where, depth + 1)
