"""Fixtures: a trustme CA and certificates, SSL contexts, a running reference server, the suite's
targets and settings.

Layered like pytest-httpserver: override a small fixture (``wsgateway_listen_host``,
``wsgateway_api_definition``, ``wsgateway_subprotocols``) in your conftest.py and everything
built on it follows. Heavy imports (trustme, websockets, the server) happen inside the fixtures,
so loading the plugin stays cheap.

PYTEST_DONT_REWRITE: no assertions here, so pytest need not rewrite (and recompile) this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from . import options

if TYPE_CHECKING:  # pragma: no cover
    import ssl

    from .executor import SerialExecutor
    from .settings import Settings
    from .targets import Target


# --- TLS -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def wsgateway_ca() -> Any:
    """A fresh ``trustme.CA`` for this test session (never a committed certificate)."""
    from .reference_server import make_ca

    return make_ca()


@pytest.fixture(scope="session")
def wsgateway_server_cert(wsgateway_ca: Any) -> Any:
    """A ``trustme.LeafCert`` for ``localhost``, ``127.0.0.1`` and ``::1``
    (``reference_server.certs.DEFAULT_IDENTITIES``), signed by :func:`wsgateway_ca`."""
    from .reference_server import issue_server_cert

    return issue_server_cert(wsgateway_ca)


@pytest.fixture(scope="session")
def wsgateway_server_ssl_context(wsgateway_server_cert: Any) -> ssl.SSLContext:
    """Server-side context: TLS ≥ 1.2, the :func:`wsgateway_server_cert` chain; ALPN ``http/1.1`` (the
    server sets ``h2, http/1.1`` when it starts with ``ServerConfig.http2``, the default)."""
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
    """The ``ServerConfig`` of :func:`wsgateway_server`: ws and wss listeners on port 0, negotiating
    permessage-deflate when offered (as most backends do), so the deflate cases have something to judge;
    WebSockets over HTTP/2 (RFC 8441) on both, wss by ALPN ``h2`` and ws as h2c with prior knowledge."""
    from .reference_server import ServerConfig

    return ServerConfig(host=wsgateway_listen_host, api=wsgateway_api_definition, schemes=("ws", "wss"),
                        ssl_context=wsgateway_server_ssl_context, subprotocols=tuple(wsgateway_subprotocols),
                        permessage_deflate=True, fault=wsgateway_fault, http2=True, h2c=True)


@pytest.fixture(scope="session")
def wsgateway_server(wsgateway_server_config: Any) -> Any:
    """A running reference server (its own thread and event loop); ``.urls["ws"]``, ``.urls["wss"]``."""
    from .reference_server import ReferenceServer

    server = ReferenceServer(wsgateway_server_config).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def wsgateway_suite_server(wsgateway_server_config: Any) -> Any:
    """The reference server the embedded conformance run binds its targets to: the same
    :func:`wsgateway_server_config`, served from a forked child process
    (``reference_server.forked.ForkedServer``: the suite's client threads and the server no longer
    share one interpreter lock) where forking is safe -- Linux, and this process has one thread --
    else from a thread, as :func:`wsgateway_server` does. ``.urls`` as there; the child's
    ``handshakes``/``websockets`` counters are not readable. Override it (e.g. ``return
    wsgateway_server``) to serve the embedded run in this process, to debug the server."""
    from .reference_server import ReferenceServer
    from .reference_server.forked import ForkedServer, fork_unsafe_reason

    server = (ForkedServer if fork_unsafe_reason() is None else ReferenceServer)(wsgateway_server_config).start()
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

    settings = options.settings(request.config)
    if not settings.embedded:
        return settings
    if not settings.subprotocols:
        settings = replace(settings, subprotocols=tuple(request.getfixturevalue("wsgateway_subprotocols")))
    if settings.api is None:
        from .apidef import load_api
        from .reference_server.api import DEFAULT_API_PATH

        settings = replace(settings, api=load_api(DEFAULT_API_PATH), echo=True)
    return settings


_BOUND_KEY = pytest.StashKey[dict]()


@pytest.fixture
def wsgateway_target(request: pytest.FixtureRequest) -> Target:
    """The target of a conformance case (parametrized by the plugin: ``case@target`` ids); an
    embedded target is bound to the running :func:`wsgateway_suite_server` and its defaults."""
    target = options.settings(request.config).target(request.param)
    if target.embedded:
        settings = request.getfixturevalue("wsgateway_settings")
        server = request.getfixturevalue("wsgateway_suite_server")
        ca_pem = request.getfixturevalue("wsgateway_ca_pem")
        # bound once for these fixtures' values, not once per item (re-parsing its URL each time)
        bound = request.config.stash.setdefault(_BOUND_KEY, {})  # target id -> (fixture values, target)
        made_of = bound.get(target.id, ((None, None, None), None))[0]
        if made_of[0] is not settings or made_of[1] is not server or made_of[2] != ca_pem:
            bound[target.id] = ((settings, server, ca_pem), target.bound(server.urls[target.scheme], ca_file=ca_pem)
                                .with_settings(api=target.api or settings.api,
                                               subprotocols=target.subprotocols or settings.subprotocols))
        target = bound[target.id][1]
    if not request.config.getoption("setuponly", False):  # --setup-only sets up, runs nothing
        # the run has reached this target: its selected cases start now, while the items before
        # them (e.g. origin-policy) run
        options.executor(request.config).start(target)
    return target


@pytest.fixture(scope="session")
def wsgateway_executor(request: pytest.FixtureRequest) -> SerialExecutor:
    """The executor that runs the conformance cases (:mod:`pytest_wsgateway.executor`)."""
    return options.executor(request.config)


# --- properties ------------------------------------------------------------------------------


@pytest.fixture
def wsgateway_record_property(request: pytest.FixtureRequest) -> Any:
    """``record(name, value)``: what pytest's ``record_property`` does -- the pair goes on the item's
    ``user_properties``, so the reports and ``--junitxml`` see it -- without that fixture's
    warning under ``junit_family=xunit2`` (pytest's default), which ``-W error`` makes an error."""

    def record(name: str, value: object) -> None:
        request.node.user_properties.append((name, value))

    return record
