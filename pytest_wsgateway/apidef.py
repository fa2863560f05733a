"""The suite's view of an OpenAPI 2.0 (Swagger) API definition such as IBM API Connect exports.

Only what the cases check: ``schemes``, ``basePath`` and ``paths``. (The reference server reads
definitions with its own code: the suite and the server share no verdict logic.)

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

from dataclasses import dataclass


class ApiDefinitionError(ValueError):
    """An API definition file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class ApiInfo:
    source: str
    schemes: tuple[str, ...]
    base_path: str
    paths: tuple[str, ...]

    def routes(self) -> list[str]:
        """basePath joined with each path; the path ``/`` stands for basePath itself."""
        base = self.base_path.rstrip("/")
        return [(base + path) if path != "/" else (base or "/") for path in self.paths]

    def declares(self, tested_path: str) -> bool:
        """Whether ``tested_path`` is a route, possibly behind a gateway prefix (``/org/catalog``)."""
        tested = tested_path.rstrip("/") or "/"
        for route in self.routes():
            route = route.rstrip("/") or "/"
            if tested == route or (route != "/" and tested.endswith(route)):
                return True
        return False


#: An API definition is a small document; a bigger file is a mistake (or an attack on the parser).
MAX_BYTES = 1 << 20


def load_api(path: str, option: str = "--gateway-api") -> ApiInfo:
    """Read ``path``; raise :class:`ApiDefinitionError` with one line when it is not usable.

    YAML aliases (``*name``) are refused and the file is bounded (:data:`MAX_BYTES`): see
    :func:`read_yaml`.
    """
    document = read_yaml(path, option, "an API definition")
    if not isinstance(document, dict) or str(document.get("swagger")) != "2.0":
        raise ApiDefinitionError(f"{option} {path}: not an OpenAPI 2.0 definition (expected swagger: \"2.0\")")
    paths = document.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise ApiDefinitionError(f"{option} {path}: the definition declares no paths")
    schemes = document.get("schemes") or []
    if not isinstance(schemes, list):
        raise ApiDefinitionError(f"{option} {path}: schemes must be a list")
    return ApiInfo(path, tuple(str(s).lower() for s in schemes), str(document.get("basePath") or "/"),
                   tuple(str(p) for p in paths))


def read_yaml(path: str, option: str, kind: str) -> object:
    """The YAML document in ``path``, or :class:`ApiDefinitionError` with one line naming ``option`` and
    ``path`` (``kind`` says what the file should be, e.g. "an API definition").

    YAML aliases (``*name``) are refused and the file is bounded (:data:`MAX_BYTES`): a handful
    of nested aliases expand to billions of nodes (an "alias bomb") that exhaust memory. Shared by
    ``--gateway-api`` and ``--gateway-targets`` (:mod:`pytest_wsgateway.targetsfile`).
    """
    import yaml  # deferred: the plugin module imports only pytest and the standard library

    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ApiDefinitionError(f"{option} {path}: {exc.strerror or exc}") from None
    except ValueError as exc:  # e.g. a NUL byte in the path
        raise ApiDefinitionError(f"{option} {path}: cannot read: {exc}") from None
    if len(data) > MAX_BYTES:
        raise ApiDefinitionError(f"{option} {path}: larger than 1 MiB; not {kind}")
    try:
        return yaml.load(data.decode("utf-8"), Loader=_loader())  # noqa: S506 (a SafeLoader subclass)
    except UnicodeDecodeError as exc:
        raise ApiDefinitionError(f"{option} {path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except _AliasRefused as exc:
        raise ApiDefinitionError(f"{option} {path}: YAML aliases (*name) are not accepted ({exc})") from None
    except yaml.YAMLError as exc:
        raise ApiDefinitionError(f"{option} {path}: not valid YAML ({str(exc).splitlines()[0]})") from None


class _AliasRefused(Exception):
    """A YAML alias in an API definition (the message says where)."""


def _loader():
    """yaml.SafeLoader that refuses alias nodes while composing (before anything is expanded)."""
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise _AliasRefused(f"line {mark.line + 1}, column {mark.column + 1}")
            return super().compose_node(parent, index)

    return NoAliasLoader
