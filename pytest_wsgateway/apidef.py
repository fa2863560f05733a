"""The suite's view of an OpenAPI 2.0 (Swagger) API definition such as IBM API Connect exports.

Only what the cases check: ``schemes``, ``basePath`` and ``paths``. (The reference server reads
definitions with its own code: the suite and the server share no verdict logic.)
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


def load_api(path: str) -> ApiInfo:
    """Read ``path``; raise :class:`ApiDefinitionError` with one line when it is not usable."""
    import yaml  # deferred: the plugin module imports only pytest and the standard library

    try:
        with open(path, encoding="utf-8") as handle:
            document = yaml.safe_load(handle)
    except OSError as exc:
        raise ApiDefinitionError(f"--gateway-api {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ApiDefinitionError(f"--gateway-api {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(document, dict) or str(document.get("swagger")) != "2.0":
        raise ApiDefinitionError(f"--gateway-api {path}: not an OpenAPI 2.0 definition (expected swagger: \"2.0\")")
    paths = document.get("paths")
    if not isinstance(paths, dict) or not paths:
        raise ApiDefinitionError(f"--gateway-api {path}: the definition declares no paths")
    schemes = document.get("schemes") or []
    if not isinstance(schemes, list):
        raise ApiDefinitionError(f"--gateway-api {path}: schemes must be a list")
    return ApiInfo(path, tuple(str(s).lower() for s in schemes), str(document.get("basePath") or "/"),
                   tuple(str(p) for p in paths))
