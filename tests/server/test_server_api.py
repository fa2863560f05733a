"""OpenAPI 2.0 definitions: routes, schemes -> listeners, clear errors."""

from __future__ import annotations

import textwrap

import pytest
from websockets.sync.client import connect

from tests.server._helpers import build_request, exchange, upgrade_head
from pytest_wsgateway.reference_server import (
    DEFAULT_API_PATH,
    ApiDefinition,
    ApiDefinitionError,
    ReferenceServer,
    ServerConfig,
    client_ssl_context,
    issue_server_cert,
    load_api_definition,
    make_ca,
    server_ssl_context,
)


def write(tmp_path, text: str, name: str = "api.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_default_api_is_api_connect_like():
    api = load_api_definition(DEFAULT_API_PATH)
    assert api.title == "websocket-test"
    assert api.base_path == "/websocket-test"
    assert api.paths == ("/",)
    assert api.routes == ("/websocket-test",)
    assert api.schemes == ("https", "wss")
    assert api.websocket_schemes == ("wss",)
    assert ServerConfig().api == api


def test_routes_join_base_path(tmp_path):
    api = load_api_definition(write(tmp_path, """
        swagger: "2.0"
        info: {title: multi}
        basePath: /api/
        schemes: [ws]
        paths:
          /: {get: {responses: {"101": {description: ok}}}}
          /echo: {get: {}}
          /rooms/{room}: {get: {}}
    """))
    assert api.routes == ("/api", "/api/echo", "/api/rooms/{room}")
    assert api.matches("/api") and api.matches("/api/echo") and api.matches("/api/rooms/42")
    assert not api.matches("/api/rooms/") and not api.matches("/api/rooms/1/2")
    assert not api.matches("/api/") and not api.matches("/echo")


def test_no_base_path_defaults_to_root(tmp_path):
    api = load_api_definition(write(tmp_path, """
        swagger: "2.0"
        schemes: [wss]
        paths: {/: {get: {}}}
    """, name="plain.yaml"))
    assert api.routes == ("/",) and api.title == "plain"


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("openapi: 3.0.0\npaths: {/: {}}\nschemes: [ws]\n", "OpenAPI 3.0.0 is not supported"),
        ('swagger: "1.2"\npaths: {/: {}}\nschemes: [ws]\n', "only \"2.0\""),
        ("just a string\n", "not an OpenAPI 2.0 document"),
        ('swagger: "2.0"\nschemes: [ws]\n', "no paths"),
        ('swagger: "2.0"\npaths: {}\nschemes: [ws]\n', "no paths"),
        ('swagger: "2.0"\npaths: {/: {}}\n', "no schemes"),
        ('swagger: "2.0"\npaths: {/: {}}\nschemes: [https]\n', "neither ws nor wss"),
        ('swagger: "2.0"\npaths: {/: {}}\nschemes: [gopher]\n', "unknown scheme"),
        ('swagger: "2.0"\npaths: {/: {}}\nschemes: wss\n', "must be a list"),
        ('swagger: "2.0"\nbasePath: api\npaths: {/: {}}\nschemes: [ws]\n', "basePath"),
        ('swagger: "2.0"\npaths: {echo: {}}\nschemes: [ws]\n', "must start with '/'"),
        ('swagger: "2.0"\npaths: [unclosed\n', "invalid YAML"),
    ],
)
def test_bad_files_give_clear_errors(tmp_path, text, fragment):
    path = write(tmp_path, text, name="broken.yaml")
    with pytest.raises(ApiDefinitionError) as info:
        load_api_definition(path)
    message = str(info.value)
    assert str(path) in message and fragment in message
    assert isinstance(info.value, ValueError)


def test_missing_file_is_clear(tmp_path):
    with pytest.raises(ApiDefinitionError, match="no such file"):
        load_api_definition(tmp_path / "missing.yaml")


def test_declared_paths_only(tmp_path):
    api = load_api_definition(write(tmp_path, """
        swagger: "2.0"
        basePath: /v1
        schemes: [ws]
        paths: {/a: {get: {}}, /b: {get: {}}}
    """))
    with ReferenceServer(ServerConfig(api=api)) as srv:
        address = srv.address("ws")
        assert srv.urls == {"ws": f"ws://127.0.0.1:{address[1]}/v1/a"}
        for path in ("/v1/a", "/v1/b", "/v1/b?x=1"):
            assert upgrade_head(address, build_request(path)).status == 101
        for path in ("/v1", "/v1/c", "/a", "/websocket-test"):
            response, closed = exchange(address, build_request(path))
            assert response.status == 404 and closed


def test_schemes_decide_listeners(tmp_path):
    both = load_api_definition(write(tmp_path, """
        swagger: "2.0"
        basePath: /x
        schemes: [https, ws, wss]
        paths: {/: {get: {}}}
    """))
    assert both.websocket_schemes == ("ws", "wss")
    with pytest.raises(ValueError, match="ssl_context"):
        ReferenceServer(ServerConfig(api=both))
    ca = make_ca()
    ctx = server_ssl_context(issue_server_cert(ca))
    with ReferenceServer(ServerConfig(api=both, ssl_context=ctx)) as srv:
        assert set(srv.urls) == {"ws", "wss"}
        with connect(srv.urls["wss"], ssl=client_ssl_context(ca), open_timeout=5) as ws:
            ws.send("s")
            assert ws.recv(timeout=5) == "s"
        with connect(srv.urls["ws"], open_timeout=5) as ws:
            ws.send("p")
            assert ws.recv(timeout=5) == "p"
    # the override wins over the API's schemes
    with ReferenceServer(ServerConfig(api=both, schemes=("ws",))) as srv:
        assert list(srv.urls) == ["ws"]


def test_default_api_with_scheme_ws_override():
    with ReferenceServer(ServerConfig(schemes=("ws",))) as srv:
        assert list(srv.urls) == ["ws"] and srv.urls["ws"].endswith("/websocket-test")


def test_unknown_scheme_override_is_rejected():
    with pytest.raises(ValueError, match="unknown scheme"):
        ReferenceServer(ServerConfig(schemes=("http",)))


def test_api_definition_is_a_value():
    api = ApiDefinition("t", "/", ("/",), ("ws",))
    assert api.routes == ("/",) and api.matches("/")
