"""Reference WebSocket server: what a correct RFC 6455 opening handshake looks like.

Installed as ``pytest_wsgateway.reference_server``. It shares no verdict code
with the conformance suite: the suite judges it like any other target.

Quick start::

    from pytest_wsgateway.reference_server import (
        ReferenceServer, ServerConfig, make_ca, issue_server_cert, server_ssl_context,
    )

    ca = make_ca()
    ctx = server_ssl_context(issue_server_cert(ca))
    with ReferenceServer(ServerConfig(ssl_context=ctx)) as server:
        print(server.urls["wss"])   # wss://127.0.0.1:PORT/websocket-test

    # plain ws:// for local testing (the shipped API lists only https/wss):
    with ReferenceServer(ServerConfig(schemes=("ws",))) as server:
        print(server.urls["ws"])

    # wrong on purpose, in one named way (see reference_server/faults.py, docs/fault-profiles.md):
    with ReferenceServer(ServerConfig(schemes=("ws",), fault="gatewayscript")) as server:
        ...

Command line: ``wsgateway-server --tls`` or ``python -m pytest_wsgateway.reference_server``
(``--fault NAME``, ``--list-faults``).

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from .api import (
    DEFAULT_API_PATH,
    ApiDefinition,
    ApiDefinitionError,
    default_api,
    load_api_definition,
    parse_api_definition,
)
from .certs import (
    client_ssl_context,
    issue_server_cert,
    make_ca,
    server_ssl_context,
    write_ca_pem,
)
from .server import ReferenceServer, ServerConfig, serve

__all__ = [
    "ReferenceServer",
    "ServerConfig",
    "serve",
    "ApiDefinition",
    "ApiDefinitionError",
    "DEFAULT_API_PATH",
    "default_api",
    "load_api_definition",
    "parse_api_definition",
    "make_ca",
    "issue_server_cert",
    "server_ssl_context",
    "client_ssl_context",
    "write_ca_pem",
]
