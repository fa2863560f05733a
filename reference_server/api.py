"""Read an OpenAPI 2.0 (Swagger) API definition, as exported from IBM API Connect.

Only what the reference server needs is read:

* ``swagger: "2.0"`` (required),
* ``info.title`` (optional; defaults to the file name),
* ``basePath`` (optional; defaults to ``/``),
* ``paths`` (required, non-empty; each key starts with ``/``),
* ``schemes`` (required; must list ``ws`` and/or ``wss``; ``http``/``https``
  are allowed and ignored: only ``ws``/``wss`` open listeners).

A route is ``basePath`` joined with each path; the path ``/`` maps to
``basePath`` itself (``/websocket-test`` + ``/`` -> ``/websocket-test``;
``/websocket-test`` + ``/echo`` -> ``/websocket-test/echo``). Path templates
such as ``/rooms/{room}`` match one non-empty path segment.

Choosing a plain ``ws://`` listener for local testing: API Connect APIs list
``wss`` only, so either list ``ws`` in the API file's ``schemes``, or override
the schemes: ``ServerConfig(schemes=("ws",))`` / ``wsgateway-server --scheme ws``.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping
from pathlib import Path

import yaml

__all__ = [
    "ApiDefinition",
    "ApiDefinitionError",
    "DEFAULT_API_PATH",
    "WEBSOCKET_SCHEMES",
    "load_api_definition",
    "parse_api_definition",
    "default_api",
    "join_route",
]

DEFAULT_API_PATH = Path(__file__).with_name("default_api.yaml")
WEBSOCKET_SCHEMES = ("ws", "wss")
_KNOWN_SCHEMES = ("http", "https", "ws", "wss")


class ApiDefinitionError(ValueError):
    """An API definition file is unusable. The message names the file."""


def join_route(base_path: str, path: str) -> str:
    """basePath + path, without doubled or trailing slashes (path ``/`` -> basePath)."""
    base = base_path.rstrip("/")
    if path == "/":
        return base or "/"
    return base + path


@dataclasses.dataclass(frozen=True)
class ApiDefinition:
    title: str
    base_path: str
    paths: tuple[str, ...]
    schemes: tuple[str, ...]
    source: str | None = None

    @property
    def routes(self) -> tuple[str, ...]:
        """Full request paths, in declaration order."""
        return tuple(join_route(self.base_path, path) for path in self.paths)

    @property
    def websocket_schemes(self) -> tuple[str, ...]:
        """The schemes that open listeners (``ws``/``wss``), in declaration order."""
        return tuple(scheme for scheme in self.schemes if scheme in WEBSOCKET_SCHEMES)

    def matches(self, path: str) -> bool:
        """True if ``path`` (without query) is one of the declared routes."""
        return any(_route_regex(route).fullmatch(path) for route in self.routes)


_REGEX_CACHE: dict[str, re.Pattern[str]] = {}


def _route_regex(route: str) -> re.Pattern[str]:
    pattern = _REGEX_CACHE.get(route)
    if pattern is None:
        parts = re.split(r"(\{[^/{}]+\})", route)
        regex = "".join(
            "[^/]+" if part.startswith("{") and part.endswith("}") else re.escape(part)
            for part in parts
        )
        pattern = _REGEX_CACHE[route] = re.compile(regex)
    return pattern


def parse_api_definition(document: object, source: str = "<api>") -> ApiDefinition:
    """Validate an already-loaded YAML/JSON document; errors name ``source``."""

    def fail(problem: str) -> ApiDefinitionError:
        return ApiDefinitionError(f"{source}: {problem}")

    if not isinstance(document, Mapping):
        raise fail("not an OpenAPI 2.0 document (expected a mapping at the top level)")
    swagger = document.get("swagger")
    if swagger is None:
        if "openapi" in document:
            raise fail(
                f"OpenAPI {document.get('openapi')} is not supported; "
                "expected swagger: \"2.0\" (OpenAPI 2.0, as API Connect exports)"
            )
        raise fail('missing swagger: "2.0"')
    if str(swagger) != "2.0":
        raise fail(f'swagger is {swagger!r}; only "2.0" is supported')

    info = document.get("info") or {}
    title = info.get("title") if isinstance(info, Mapping) else None
    if title is None:
        title = Path(source).stem
    title = str(title)

    base_path = document.get("basePath", "/")
    if not isinstance(base_path, str) or not base_path.startswith("/"):
        raise fail(f"basePath must be a string starting with '/', got {base_path!r}")
    if any(c.isspace() for c in base_path) or "?" in base_path or "#" in base_path:
        raise fail(f"basePath {base_path!r} contains invalid characters")

    paths = document.get("paths")
    if not isinstance(paths, Mapping) or not paths:
        raise fail("no paths: the API must declare at least one path")
    path_list: list[str] = []
    for path in paths:
        if not isinstance(path, str) or not path.startswith("/"):
            raise fail(f"path {path!r} must start with '/'")
        if any(c.isspace() for c in path) or "?" in path or "#" in path:
            raise fail(f"path {path!r} contains invalid characters")
        path_list.append(path)

    schemes = document.get("schemes")
    if schemes is None:
        raise fail("no schemes: list ws and/or wss (API Connect WebSocket APIs use [https, wss])")
    if isinstance(schemes, str) or not isinstance(schemes, list):
        raise fail(f"schemes must be a list, got {schemes!r}")
    scheme_list: list[str] = []
    for scheme in schemes:
        if not isinstance(scheme, str) or scheme.lower() not in _KNOWN_SCHEMES:
            raise fail(f"unknown scheme {scheme!r}; expected one of {', '.join(_KNOWN_SCHEMES)}")
        if scheme.lower() not in scheme_list:
            scheme_list.append(scheme.lower())
    if not any(scheme in WEBSOCKET_SCHEMES for scheme in scheme_list):
        raise fail(f"schemes {scheme_list} list neither ws nor wss: nothing to serve")

    return ApiDefinition(title, base_path, tuple(path_list), tuple(scheme_list), source)


def load_api_definition(path: str | Path) -> ApiDefinition:
    """Load and validate an OpenAPI 2.0 YAML (or JSON) file.

    Raises :class:`ApiDefinitionError` (a ``ValueError``) naming the file and the
    problem: unreadable file, bad YAML, not swagger 2.0, no paths, no ws/wss scheme.
    """
    path = Path(path)
    source = str(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise ApiDefinitionError(f"{source}: larger than 1 MiB; not an API definition")
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise ApiDefinitionError(f"{source}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ApiDefinitionError(f"{source}: cannot read: {exc}") from None
    try:
        document = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 (a SafeLoader subclass)
    except _AliasRefused as exc:
        raise ApiDefinitionError(f"{source}: YAML aliases (*name) are not accepted ({exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ApiDefinitionError(f"{source}: invalid YAML{where}: {problem}") from None
    return parse_api_definition(document, source)


#: An API definition is a small document; a bigger file is a mistake (or an attack on the parser).
MAX_BYTES = 1 << 20


class _AliasRefused(Exception):
    """A YAML alias in an API definition (the message says where)."""


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses alias nodes while composing, before anything is expanded: a few
    nested aliases (an "alias bomb") expand to billions of nodes and exhaust memory."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise _AliasRefused(f"line {mark.line + 1}, column {mark.column + 1}")
        return super().compose_node(parent, index)


@functools.lru_cache(maxsize=1)
def default_api() -> ApiDefinition:
    """The shipped API definition (``default_api.yaml``), loaded once."""
    return load_api_definition(DEFAULT_API_PATH)
