"""Fixtures: a trustme CA and certificates, SSL contexts, a running reference server, the suite's
targets and settings.

Layered like pytest-httpserver: override a small fixture (``wsgateway_listen_host``,
``wsgateway_api_definition``, ``wsgateway_subprotocols``) in your conftest.py and everything
built on it follows. Heavy imports (trustme, websockets, the server) happen inside the fixtures,
so loading the plugin stays cheap.

PYTEST_DONT_REWRITE: no assertions here, so pytest need not rewrite (and recompile) this module.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

if TYPE_CHECKING:  # pragma: no cover
    import ssl

    from .plugin import GatewayOptions
    from .runner import Settings
    from .targets import Target

OPTIONS_KEY = pytest.StashKey["GatewayOptions"]()
RESOLVED_KEY = pytest.StashKey["Resolved"]()
CATALOGUE_KEY = pytest.StashKey[list]()
SERVER_IDENTITIES = ("localhost", "127.0.0.1", "::1")
EMBEDDED = {"reference-ws": "ws", "reference-wss": "wss"}


class Resolved(NamedTuple):
    """Validated options: the targets (None = the embedded reference server) and the settings."""

    targets: tuple[Target, ...] | None
    settings: Settings

    def target_ids(self) -> list[str]:
        return list(EMBEDDED) if self.targets is None else [target.id for target in self.targets]

    def scheme_of(self, target_id: str) -> str:
        if self.targets is None:
            return EMBEDDED[target_id]
        return next(target.scheme for target in self.targets if target.id == target_id)

    def target(self, target_id: str) -> Target:
        return next(target for target in self.targets or () if target.id == target_id)


def resolve(options: GatewayOptions) -> Resolved:
    """Check every option value; raise :class:`pytest.UsageError` with one line for a bad one."""
    from .apidef import ApiDefinitionError, load_api
    from .runner import Settings
    from .targets import TargetError, parse_header, parse_url, unique_ids

    try:
        timeout = float(options.timeout) if options.timeout else 5.0
        if not 0 < timeout <= 3600:
            raise ValueError
    except ValueError:
        raise pytest.UsageError(f"--gateway-timeout {options.timeout!r}: expected a number of seconds above 0") from None
    if options.ca and not os.path.isfile(options.ca):
        raise pytest.UsageError(f"--gateway-ca {options.ca}: no such file")
    try:
        targets = unique_ids([parse_url(url, ca_file=options.ca, insecure=options.insecure) for url in options.urls])
        headers = tuple(parse_header(text) for text in options.headers)
        api = load_api(options.api) if options.api else None
    except (TargetError, ApiDefinitionError) as exc:
        raise pytest.UsageError(str(exc)) from None
    subprotocols = tuple(getattr(options, "subprotocols", ()))
    bad = next((name for name in subprotocols if not _is_token(name)), None)
    if bad is not None:
        raise pytest.UsageError(f"--gateway-subprotocol {bad!r}: a subprotocol name is an HTTP token (RFC 6455 §4.1)")
    settings = Settings(timeout=timeout, origin=options.origin, headers=headers, echo=options.echo, api=api,
                        subprotocols=subprotocols)
    return Resolved(tuple(targets) if targets else None, settings)


def _is_token(name: str) -> bool:
    """RFC 9110 §5.6.2 token: what a Sec-WebSocket-Protocol element must be."""
    return bool(name) and all(c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~") for c in name)


def resolved(config: pytest.Config) -> Resolved:
    if RESOLVED_KEY not in config.stash:
        config.stash[RESOLVED_KEY] = resolve(config.stash[OPTIONS_KEY])
    return config.stash[RESOLVED_KEY]


def catalogue(config: pytest.Config) -> list:
    if CATALOGUE_KEY not in config.stash:
        from .cases import CatalogueError, load_catalogue

        try:
            config.stash[CATALOGUE_KEY] = load_catalogue()
        except CatalogueError as exc:
            raise pytest.UsageError(f"conformance catalogue: {exc}") from None
    return config.stash[CATALOGUE_KEY]


# --- TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def wsgateway_ca() -> Any:
    """A fresh ``trustme.CA`` for this test session (never a committed certificate)."""
    from .reference_server import make_ca

    return make_ca()


@pytest.fixture(scope="session")
def wsgateway_server_cert(wsgateway_ca: Any) -> Any:
    """A ``trustme.LeafCert`` for ``localhost``, ``127.0.0.1`` and ``::1``, signed by :func:`wsgateway_ca`."""
    from .reference_server import issue_server_cert

    return issue_server_cert(wsgateway_ca, identities=SERVER_IDENTITIES)


@pytest.fixture(scope="session")
def wsgateway_server_ssl_context(wsgateway_server_cert: Any) -> ssl.SSLContext:
    """Server-side context: TLS ≥ 1.2, ALPN ``http/1.1``, the :func:`wsgateway_server_cert` chain."""
    from .reference_server import server_ssl_context

    return server_ssl_context(wsgateway_server_cert)


@pytest.fixture(scope="session")
def wsgateway_client_ssl_context(wsgateway_ca: Any) -> ssl.SSLContext:
    """Client-side context that trusts only :func:`wsgateway_ca`, checks host names, offers ALPN ``http/1.1``."""
    from .reference_server import client_ssl_context

    return client_ssl_context(wsgateway_ca)


@pytest.fixture(scope="session")
def wsgateway_ca_pem(wsgateway_ca: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Path of a PEM file holding :func:`wsgateway_ca` (for ``--cacert``-style tools and ``SSL_CERT_FILE``)."""
    from .reference_server import write_ca_pem

    return str(write_ca_pem(wsgateway_ca, tmp_path_factory.mktemp("wsgateway-ca") / "ca.pem"))


# --- the reference server --------------------------------------------------------------------


@pytest.fixture(scope="session")
def wsgateway_listen_host() -> str:
    """Address the reference server listens on; override for ``::1`` or ``localhost``."""
    return "127.0.0.1"


@pytest.fixture(scope="session")
def wsgateway_api_definition() -> Any:
    """The OpenAPI 2.0 definition the reference server serves (default: the shipped one)."""
    from .reference_server import load_api_definition
    from .reference_server.api import DEFAULT_API_PATH

    return load_api_definition(DEFAULT_API_PATH)


@pytest.fixture(scope="session")
def wsgateway_subprotocols() -> tuple[str, ...]:
    """Subprotocols the reference server accepts, in its order of preference."""
    return ("chat",)


@pytest.fixture(scope="session")
def wsgateway_fault(request: pytest.FixtureRequest) -> Any:
    """A fault profile for the reference server (a name from ``reference_server.faults``, or a ``Fault``);
    default None, the correct server. Override it, or ``@pytest.mark.parametrize("wsgateway_fault",
    ["gatewayscript"], indirect=True)``."""
    return getattr(request, "param", None)


@pytest.fixture(scope="session")
def wsgateway_server_config(wsgateway_listen_host: str, wsgateway_api_definition: Any, wsgateway_subprotocols,
                            wsgateway_server_ssl_context: ssl.SSLContext, wsgateway_fault: Any) -> Any:
    """The ``ServerConfig`` of :func:`wsgateway_server`: ws and wss listeners on port 0."""
    from .reference_server import ServerConfig

    return ServerConfig(host=wsgateway_listen_host, api=wsgateway_api_definition, schemes=("ws", "wss"),
                        ssl_context=wsgateway_server_ssl_context, subprotocols=tuple(wsgateway_subprotocols),
                        fault=wsgateway_fault)


@pytest.fixture(scope="session")
def wsgateway_server(wsgateway_server_config: Any) -> Any:
    """A running reference server (its own thread and event loop); ``.urls["ws"]``, ``.urls["wss"]``."""
    from .reference_server import ReferenceServer

    server = ReferenceServer(wsgateway_server_config).start()
    try:
        yield server
    finally:
        server.stop()


# --- the conformance suite -------------------------------------------------------------------


@pytest.fixture(scope="session")
def wsgateway_settings(request: pytest.FixtureRequest) -> Settings:
    """The suite's settings from the ``--gateway-*`` options; for the embedded server (no URL) its
    API definition, echo, and its subprotocols (:func:`wsgateway_subprotocols`) unless given."""
    from dataclasses import replace

    found = resolved(request.config)
    settings = found.settings
    if found.targets is None and not settings.subprotocols:
        settings = replace(settings, subprotocols=tuple(request.getfixturevalue("wsgateway_subprotocols")))
    if found.targets is None and settings.api is None:
        from .apidef import load_api
        from .reference_server.api import DEFAULT_API_PATH

        return replace(settings, api=load_api(DEFAULT_API_PATH), echo=True)
    return settings


@pytest.fixture
def wsgateway_target(request: pytest.FixtureRequest) -> Target:
    """The target of a conformance case (parametrized by the plugin: ``case@target`` ids)."""
    found = resolved(request.config)
    target_id = request.param
    if found.targets is not None:
        return found.target(target_id)
    from .targets import parse_url

    server = request.getfixturevalue("wsgateway_server")
    ca_pem = request.getfixturevalue("wsgateway_ca_pem")
    return parse_url(server.urls[EMBEDDED[target_id]], ca_file=ca_pem, target_id=target_id)
