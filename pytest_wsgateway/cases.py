"""The case catalogue: YAML files -> validated :class:`Case` objects, and a case -> request bytes.

A case is data: a stable id, a title, the RFC section and a short quote, a requirement level, the
edits that turn the baseline valid upgrade into the request to send, what to do after a 101, and
the named checks (see :mod:`pytest_wsgateway.checks`) that judge the answer. A typo in a case file
is reported at load time with the file and the case id.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field, replace

from . import frames as wsframes
from .frames import Burst
from .handshake import Headers, build_request, new_key
from .levels import LEVELS
_CASE_KEYS = {"id", "title", "level", "rfc", "quote", "request", "expect", "after", "schemes", "requires", "also",
              "transport"}
#: The transports a case may name (``transport:``; the default is HTTP/1.1). The registry of their
#: implementations is :func:`pytest_wsgateway.transport._transports` (kept in step by a test).
TRANSPORT_NAMES = ("http/1.1", "h2")
_ALSO_KEYS = {"title", "level", "rfc", "quote", "expect"}
_REQUEST_KEYS = {"method", "target", "version", "key", "remove", "set", "add", "header_case", "order", "body"}
_AFTER_ACTIONS = {"ping", "close", "text", "binary", "deflate-text", "text-hex", "fragments", "pings",
                  "second-stream", "deflate-fragments", "idle", "ladder", "flood", "half-close"}
_FRAGMENT_KEYS = {"text", "binary", "text-hex", "sizes", "ping", "ping_after"}
#: Steps whose payload is a :class:`~pytest_wsgateway.frames.Burst`.
BURST_ACTIONS = frozenset({"fragments", "pings", "deflate-fragments"})
#: After-101 steps only a transport other than HTTP/1.1 can take (``second-stream``: HTTP/2 only).
_TRANSPORT_ACTIONS = {"second-stream": ("h2",), "sized": ("http/1.1",), "flood": ("http/1.1",),
                      "half-close": ("http/1.1",)}
#: The largest message a ``ladder`` rung may be (16 MiB), and the most a ``flood`` may write.
MAX_SIZED = 16 << 20
MAX_FLOOD = 64 << 20
REQUIREMENTS = {
    "echo": "the endpoint is not known to echo messages; opt in with --gateway-echo",
    "api": "no API definition given; pass --gateway-api FILE",
    "verified-tls": "certificate checks are off (--gateway-insecure)",
    "subprotocol": "the subprotocol the API speaks is not known; pass --gateway-subprotocol NAME",
    "idle": "no idle time declared (opt-in, slow): pass --gateway-idle SECONDS to keep a connection quiet that long",
    "large": "messages over 1 MiB are opt-in: declare the size the API must carry with --gateway-max-message BYTES "
             "(above 1 MiB)",
}


class CatalogueError(ValueError):
    """A case file that does not describe valid cases; the message names the file and case."""


@dataclass(frozen=True)
class RequestSpec:
    """Edits applied, in this order, to the baseline upgrade request (see :func:`render_request`)."""

    method: str = "GET"
    target: str = "{resource}"
    version: str = "HTTP/1.1"
    key: str | None = None
    remove: tuple[str, ...] = ()
    set: tuple[tuple[str, str], ...] = ()
    add: tuple[tuple[str, str], ...] = ()
    header_case: str | None = None
    order: str | None = None
    body: str = ""


@dataclass(frozen=True)
class Case:
    id: str
    title: str
    level: str
    rfc: str
    quote: str
    request: RequestSpec = field(default_factory=RequestSpec)
    expect: tuple[tuple[str, dict], ...] = ()
    #: ``(action, payload)``: ``ping``, ``close``, ``text``, ``binary``, ``deflate-text`` with bytes;
    #: ``fragments``, ``deflate-fragments`` and ``pings`` with a :class:`~pytest_wsgateway.frames.Burst`
    #: (sent back to back); ``idle`` with ``b""`` (quiet for the target's ``--gateway-idle``, then a ping);
    #: ``sized`` with a :class:`~pytest_wsgateway.frames.Sized` (one rung of a ``ladder``), ``flood``
    #: with a :class:`~pytest_wsgateway.frames.Flood`, ``half-close`` with a close payload.
    after: tuple[tuple[str, bytes | Burst | wsframes.Sized | wsframes.Flood], ...] = ()
    schemes: tuple[str, ...] = ("ws", "wss")
    requires: tuple[str, ...] = ()
    source: str = ""
    #: Which transport sends the request (:data:`TRANSPORT_NAMES`): ``h2`` is an extended CONNECT
    #: over HTTP/2 (RFC 8441), its request edits applying to the HTTP/2 field list.
    transport: str = "http/1.1"


def title_for(case: Case, subprotocol: str = "") -> str:
    """The case's title with ``{subprotocol}`` filled in (the API's, or words for it when unknown)."""
    return case.title.replace("{subprotocol}", subprotocol or "the API's subprotocol")


def catalogue_dir() -> str:
    """The folder of the shipped case files (``conformance/cases``)."""
    from . import conformance  # the repository's conformance/ folder, mapped into this package

    return os.path.join(os.path.dirname(conformance.__file__), "cases")


@functools.lru_cache(maxsize=1)
def shipped_catalogue() -> tuple[Case, ...]:
    """The shipped catalogue, loaded once per process (raises :class:`CatalogueError`)."""
    return tuple(load_catalogue())


def load_catalogue(directory: str | None = None) -> list[Case]:
    """Load every ``*.yaml`` in ``directory`` (default: the shipped catalogue), sorted by file name."""
    directory = directory or catalogue_dir()
    cases: list[Case] = []
    for name in sorted(os.listdir(directory)):
        if name.endswith(".yaml"):
            cases.extend(load_file(os.path.join(directory, name)))
    seen: dict[str, str] = {}
    for case in cases:
        if case.id in seen:
            raise CatalogueError(f"{case.source}: case id {case.id!r} is also used in {seen[case.id]}")
        seen[case.id] = case.source
    return cases


def load_file(path: str) -> list[Case]:
    import yaml  # deferred: loading the plugin must stay cheap

    source = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as handle:
            # libyaml's loader when present: ~7x faster than the pure-Python one, same result.
            document = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{source}: not valid YAML: {' '.join(str(exc).split())}") from None
    entries = document.get("cases") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise CatalogueError(f"{source}: expected a mapping with a 'cases' list")
    return [case for entry in entries for case in _expand(entry, source)]


def _expand(entry: object, source: str) -> list[Case]:
    """A case, plus one sibling per ``also:`` item: the same request judged by other checks.

    ``also: {clean-error: {level: should, expect: [clean_error]}}`` on case ``reject-x`` adds
    case ``reject-x-clean-error``, so a MUST and a SHOULD about one request stay separate cases.
    """
    if not isinstance(entry, dict):
        raise CatalogueError(f"{source}: every case must be a mapping ({entry!r:.60})")
    base = {key: value for key, value in entry.items() if key != "also"}
    cases = [_parse_case(base, source)]
    for suffix, overrides in (entry.get("also") or {}).items():
        unknown = set(overrides or {}) - _ALSO_KEYS
        if unknown or not overrides or "expect" not in overrides or "level" not in overrides:
            raise CatalogueError(f"{source}: case {entry.get('id')!r}: 'also' item {suffix!r} needs level and expect"
                                 + (f", not {sorted(unknown)}" if unknown else ""))
        sibling = {**base, "title": f"{base.get('title')}: {suffix.replace('-', ' ')}", **overrides,
                   "id": f"{base.get('id')}-{suffix}"}
        cases.append(_parse_case(sibling, source))
    return cases


def _parse_case(entry: object, source: str) -> Case:
    from .checks import CHECKS

    if not isinstance(entry, dict) or "id" not in entry:
        raise CatalogueError(f"{source}: every case needs an 'id' ({entry!r:.60})")
    where = f"{source}: case {entry['id']!r}"
    unknown = set(entry) - _CASE_KEYS
    missing = {"title", "level", "rfc", "quote", "expect"} - set(entry)
    if unknown or missing:
        raise CatalogueError(f"{where}: unknown keys {sorted(unknown)}" if unknown else f"{where}: missing {sorted(missing)}")
    if entry["level"] not in LEVELS:
        raise CatalogueError(f"{where}: level must be one of {', '.join(LEVELS)}, not {entry['level']!r}")
    expect = []
    for item in entry["expect"]:
        name, params = (item, {}) if isinstance(item, str) else next(iter(item.items()))
        if name not in CHECKS:
            raise CatalogueError(f"{where}: unknown check {name!r} (known: {', '.join(sorted(CHECKS))})")
        expect.append((name, {k: tuple(v) if isinstance(v, list) else v for k, v in (params or {}).items()}))
    after = [parsed for step in entry.get("after") or () for parsed in _parse_steps(step, where)]
    transport = str(entry.get("transport") or "http/1.1")
    if transport not in TRANSPORT_NAMES:
        raise CatalogueError(f"{where}: transport must be one of {', '.join(TRANSPORT_NAMES)}, not {transport!r}")
    if transport == "h2" and not str(entry["id"]).startswith("h2-"):
        raise CatalogueError(f"{where}: the id of an HTTP/2 case starts with 'h2-'")
    for action, _ in after:
        if transport not in _TRANSPORT_ACTIONS.get(action, (transport,)):
            raise CatalogueError(f"{where}: the after-101 step {action!r} needs transport "
                                 f"{' or '.join(_TRANSPORT_ACTIONS[action])}")
    for requirement in entry.get("requires") or ():
        if requirement not in REQUIREMENTS:
            raise CatalogueError(f"{where}: unknown requirement {requirement!r}")
    return Case(
        id=str(entry["id"]),
        title=str(entry["title"]),
        level=entry["level"],
        rfc=str(entry["rfc"]),
        quote=" ".join(str(entry["quote"]).split()),
        request=_parse_request(entry.get("request") or {}, where),
        expect=tuple(expect),
        after=tuple(after),
        schemes=tuple(entry.get("schemes") or ("ws", "wss")),
        requires=tuple(entry.get("requires") or ()),
        source=source,
        transport=transport,
    )


def _parse_steps(step: object, where: str) -> list[tuple[str, object]]:
    """One YAML step -> the transport's steps: a ``ladder`` is one ``sized`` step per rung,
    ``{ladder: {binary|text: [0, 125, 1048576], fragments: 3}}`` (sizes in bytes, ascending, each at
    most :data:`MAX_SIZED`); ``{flood: {messages: 16, size: 262144, pause: 0.5}}`` is a
    :class:`~pytest_wsgateway.frames.Flood`; ``{half-close: code}`` a close frame then a TCP
    half-close. Every other step is :func:`_parse_step`."""
    action = next(iter(step)) if isinstance(step, dict) and len(step) == 1 else None
    if action not in ("ladder", "flood", "half-close"):
        return [_parse_step(step, where)]
    value = step[action]
    try:
        if action == "half-close":
            return [("half-close", wsframes.close_payload(int(value or 1000)))]
        if not isinstance(value, dict):
            raise ValueError("expected a mapping")
        if action == "flood":
            if set(value) - {"messages", "size", "pause"}:
                raise ValueError("flood takes messages, size and pause")
            flood = wsframes.Flood(int(value["messages"]), int(value["size"]), float(value.get("pause", 0)))
            if not (0 < flood.count and 0 < flood.size and flood.count * flood.size <= MAX_FLOOD
                    and 0 <= flood.pause <= 10):
                raise ValueError(f"messages and size above 0, at most {MAX_FLOOD} bytes in all, pause 0-10 s")
            return [("flood", flood)]
        kinds = [kind for kind in ("text", "binary") if kind in value]
        if len(kinds) != 1 or set(value) - {"text", "binary", "fragments"}:
            raise ValueError("ladder takes text or binary (a list of sizes) and fragments")
        sizes = [int(size) for size in value[kinds[0]]]
        fragments = int(value.get("fragments", 1))
        if not sizes or sizes != sorted(sizes) or sizes[0] < 0 or sizes[-1] > MAX_SIZED or not 1 <= fragments <= 64:
            raise ValueError(f"sizes ascending from 0 to {MAX_SIZED}, fragments 1-64")
        opcode = wsframes.TEXT if kinds[0] == "text" else wsframes.BINARY
        return [("sized", wsframes.Sized(opcode, size, fragments)) for size in sizes]
    except (TypeError, ValueError, KeyError) as exc:
        raise CatalogueError(f"{where}: after-101 step {action!r}: {exc}") from None


def _parse_step(step: object, where: str) -> tuple[str, bytes | Burst]:
    """One after-101 step: ``{action: value}`` -> ``(action, payload)`` for the transport.

    ``{text: str}``, ``{binary: hex}``, ``{text-hex: hex}`` (a text frame with these exact bytes,
    e.g. invalid UTF-8), ``{ping: str}``, ``{close: code}`` or ``{close: {code: 4001, reason: str}}``,
    ``{deflate-text: str}``; ``{fragments: {text|binary|text-hex: ..., sizes: [1, 1, 3], ping: str,
    ping_after: 1}}`` (a message in fragments, the last one the rest, a ping among them) and
    ``{pings: [a, b, c]}`` (pings back to back) become a :class:`~pytest_wsgateway.frames.Burst`.
    """
    if not isinstance(step, dict) or len(step) != 1:
        raise CatalogueError(f"{where}: an after-101 step is one {{action: value}} mapping, not {step!r:.60}")
    ((action, value),) = step.items()
    if action not in _AFTER_ACTIONS:
        raise CatalogueError(f"{where}: unknown after-101 step {action!r}")
    try:
        if action == "close":
            spec = value if isinstance(value, dict) else {"code": value}
            if set(spec) - {"code", "reason"}:
                raise ValueError(f"close takes code and reason, not {sorted(set(spec) - {'code', 'reason'})}")
            return "close", wsframes.close_payload(int(spec.get("code") or 1000), str(spec.get("reason") or ""))
        if action == "pings":
            if not isinstance(value, list) or not value:
                raise ValueError("pings takes a list of payloads")
            burst = wsframes.Burst(tuple((wsframes.PING, str(item).encode(), True) for item in value))
        elif action == "fragments":
            burst = _fragments(value)
        elif action == "deflate-fragments":  # compressed when negotiated: RSV1 on the first frame only
            burst = replace(_fragments(value), compressed=True)
        elif action == "idle":  # quiet for the target's declared idle time (--gateway-idle)
            if value not in (None, "declared"):
                raise ValueError("idle takes no value (the quiet time is the target's --gateway-idle)")
            return action, b""
        else:
            burst = None
        if burst is not None:
            _control_payloads_fit(burst.pings)
            return action, burst
        if action in ("binary", "text-hex"):
            return ("text" if action == "text-hex" else action), bytes.fromhex(str(value))
        payload = str(value if value is not None else "").encode()
        if action == "ping":
            _control_payloads_fit((payload,))
        return action, payload
    except (TypeError, ValueError) as exc:
        raise CatalogueError(f"{where}: after-101 step {action!r}: {exc}") from None


def _control_payloads_fit(payloads: tuple[bytes, ...]) -> None:
    """RFC 6455 §5.5: "All control frames MUST have a payload length of 125 bytes or less"."""
    for payload in payloads:
        if len(payload) > 125:
            raise ValueError(f"a ping carries at most 125 bytes (RFC 6455 §5.5), not {len(payload)}")


def _fragments(spec: object) -> Burst:
    if not isinstance(spec, dict) or set(spec) - _FRAGMENT_KEYS:
        raise ValueError(f"fragments takes {', '.join(sorted(_FRAGMENT_KEYS))}")
    kinds = [kind for kind in ("text", "binary", "text-hex") if kind in spec]
    if len(kinds) != 1 or not isinstance(spec.get("sizes"), list):
        raise ValueError("fragments needs exactly one of text, binary, text-hex, and a sizes list")
    (kind,) = kinds
    payload = str(spec[kind]).encode() if kind == "text" else bytes.fromhex(str(spec[kind]))
    opcode = wsframes.BINARY if kind == "binary" else wsframes.TEXT
    ping = spec.get("ping")
    return wsframes.fragmented(opcode, payload, tuple(int(size) for size in spec["sizes"]),
                               ping=None if ping is None else str(ping).encode(),
                               ping_after=int(spec.get("ping_after", 1)))


def _parse_request(spec: dict, where: str) -> RequestSpec:
    unknown = set(spec) - _REQUEST_KEYS
    if unknown:
        raise CatalogueError(f"{where}: unknown request keys {sorted(unknown)}")
    fields = dict(spec)
    fields["remove"] = tuple(spec.get("remove") or ())
    fields["set"] = tuple((str(k), "" if v is None else str(v)) for k, v in (spec.get("set") or {}).items())
    fields["add"] = tuple(_header_pair(line, where) for line in spec.get("add") or ())
    if fields.get("key") is not None:
        fields["key"] = str(fields["key"])
    return RequestSpec(**fields)


def _header_pair(line: str, where: str) -> tuple[str, str]:
    name, colon, value = str(line).partition(":")
    if not colon:
        raise CatalogueError(f"{where}: header line {line!r} has no colon")
    return name.strip(), value.strip()


def render_request(spec: RequestSpec, *, host: str, resource: str, path: str, secure: bool,
                   extra_headers: Headers = (), key: str | None = None, subprotocol: str = "") -> tuple[bytes, str]:
    """The request bytes for ``spec`` and the key used (fresh random unless the case fixes one).

    The baseline is the RFC 6455 §4.1 request: Host, Upgrade, Connection, Sec-WebSocket-Key,
    Sec-WebSocket-Version: 13, then ``extra_headers`` (Origin, the user's --gateway-header
    lines). Then ``remove``, ``set`` (replace in place, or append), ``add``, ``header_case`` and
    ``order`` are applied. ``{key}``, ``{host}``, ``{resource}``, ``{path}``, ``{http}``
    (http or https), ``{subprotocol}`` (the one the API speaks, --gateway-subprotocol) and
    ``{origin}`` (the --gateway-origin, else ``{http}://{host}``: a same-origin page) may appear in
    values and in the request target.
    """
    key = spec.key if spec.key is not None else (key or new_key())
    http = "https" if secure else "http"
    origin = next((value for name, value in extra_headers if name.lower() == "origin"), f"{http}://{host}")
    values = {"key": key, "host": host, "resource": resource, "path": path, "http": http,
              "subprotocol": subprotocol, "origin": origin}
    headers = [("Host", host), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
               ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13"), *extra_headers]
    removed = {name.lower() for name in spec.remove}
    headers = [(n, v) for n, v in headers if n.lower() not in removed]
    for name, value in spec.set:
        value = value.format_map(values)
        index = next((i for i, (n, _) in enumerate(headers) if n.lower() == name.lower()), None)
        if index is None:
            headers.append((name, value))
        else:
            headers[index] = (name, value)
    headers += [(name, value.format_map(values)) for name, value in spec.add]
    if spec.header_case == "lower":
        headers = [(n.lower(), v) for n, v in headers]
    elif spec.header_case == "upper":
        headers = [(n.upper(), v) for n, v in headers]
    if spec.order == "reversed":
        headers.reverse()
    body = spec.body.encode()
    request = build_request(spec.method, spec.target.format_map(values), spec.version, tuple(headers), body)
    return request, key


def render_h2_request(spec: RequestSpec, *, host: str, resource: str, secure: bool,
                      extra_headers: Headers = (), subprotocol: str = "") -> bytes:
    """The extended CONNECT (RFC 8441 §4) for ``spec``, as ``name: value`` lines (see
    :func:`~pytest_wsgateway.handshake.render_h2_fields`).

    The baseline: ``:method CONNECT``, ``:protocol websocket``, ``:scheme`` (https or http),
    ``:path`` (the resource), ``:authority`` (the host), ``sec-websocket-version: 13``, then
    ``extra_headers`` with lowercased names (RFC 9113 §8.2.1). ``remove``, ``set`` and ``add`` then
    apply as for HTTP/1.1, pseudo-header fields included (``remove: [":path"]``,
    ``set: {":protocol": bogus}``); names compare case-insensitively. ``method``, ``target``,
    ``version``, ``key``, ``header_case``, ``order`` and ``body`` do not apply.
    """
    from .handshake import render_h2_fields

    http = "https" if secure else "http"
    origin = next((value for name, value in extra_headers if name.lower() == "origin"), f"{http}://{host}")
    values = {"host": host, "resource": resource, "http": http, "subprotocol": subprotocol, "origin": origin}
    fields = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", http), (":path", resource),
              (":authority", host), ("sec-websocket-version", "13"),
              *((name.lower(), value) for name, value in extra_headers)]
    removed = {name.lower() for name in spec.remove}
    fields = [(n, v) for n, v in fields if n not in removed]
    for name, value in spec.set:
        value, name = value.format_map(values), name.lower()
        index = next((i for i, (n, _) in enumerate(fields) if n == name), None)
        if index is None:
            fields.append((name, value))
        else:
            fields[index] = (name, value)
    fields += [(name.lower(), value.format_map(values)) for name, value in spec.add]
    return render_h2_fields(fields)
