"""pytest_wsgateway.targetsfile: the targets file read into Target records (pure: no server, no TLS)."""

from __future__ import annotations

import pytest

from pytest_wsgateway.targets import TargetError
from pytest_wsgateway.targetsfile import load_targets

DEFAULTS = {"headers": (("X-IBM-Client-Id", "cli-id-default"), ("X-Trace", "on")), "origin": "https://cli.example",
            "subprotocols": ("cli",), "api": None, "timeout": 5.0, "secret_params": ("cli_sig",), "ca_file": None,
            "insecure": False, "echo": False}
ENV = {"CLIENT_ID": "client-0123456789", "TOKEN": "tok-abcdefghij", "SIG": "sig-0011223344"}


def load(tmp_path, text: str, environ=ENV, defaults=DEFAULTS, **kwargs):
    folder = tmp_path / "conf"
    folder.mkdir(exist_ok=True)
    (folder / "targets.yaml").write_text(text)
    return load_targets(str(folder / "targets.yaml"), "--gateway-targets", defaults=defaults, environ=environ,
                        **kwargs)


def test_a_target_overrides_the_command_line_and_leaves_the_rest_as_given(tmp_path):
    seen = []
    first, second = load(tmp_path, """\
targets:
  - id: orders-ws
    url: wss://gw.example.com/acme/sandbox/orders
    headers: {X-IBM-Client-Id: "${CLIENT_ID}", Authorization: "Bearer ${TOKEN}"}
    ca: certs/gw-ca.pem
    subprotocol: chat
    echo: true
    origin: https://app.example
    timeout: 3
    secret_param: [sig]
  - id: plain
    url: ws://gw.example.com/other
""", check_ca=lambda path, where: seen.append((path, where)))
    assert first.id == "orders-ws" and first.url == "wss://gw.example.com/acme/sandbox/orders"
    assert first.headers == (("X-Trace", "on"), ("X-IBM-Client-Id", ENV["CLIENT_ID"]),
                             ("Authorization", f"Bearer {ENV['TOKEN']}"))
    assert first.ca_file == str(tmp_path / "conf" / "certs" / "gw-ca.pem") and not first.insecure
    assert seen == [(first.ca_file, f"--gateway-targets {tmp_path}/conf/targets.yaml: target 'orders-ws': ca")]
    assert (first.subprotocols, first.echo, first.origin, first.timeout) == (("chat",), True, "https://app.example", 3.0)
    assert first.secret_params == ("cli_sig", "sig")
    assert second.headers == DEFAULTS["headers"] and second.subprotocols == ("cli",) and second.timeout == 5.0
    assert second.origin == "https://cli.example" and not second.echo and second.secret_params == ("cli_sig",)
    assert ENV["TOKEN"] not in repr(first) and ENV["CLIENT_ID"] not in repr(first)


def test_rate_and_concurrency_per_target_and_none_where_the_run_decides(tmp_path):
    slow, fast, plain = load(tmp_path, """\
targets:
  - {id: slow, url: 'ws://h/a', rate: 0.5, concurrency: 1}
  - {id: fast, url: 'ws://h/b', rate: 200, concurrency: 64}
  - {id: plain, url: 'ws://h/c'}
""")
    assert (slow.rate, slow.concurrency) == (0.5, 1)
    assert (fast.rate, fast.concurrency) == (200.0, 64)
    assert (plain.rate, plain.concurrency) == (None, None)


def test_insecure_and_an_empty_subprotocol_list_override_too(tmp_path):
    (target,) = load(tmp_path, "targets:\n  - {id: a, url: 'wss://h/', insecure: true, subprotocol: []}\n",
                     defaults={**DEFAULTS, "ca_file": "/cli/ca.pem"})
    assert target.insecure and target.subprotocols == ()


def test_a_credential_in_the_query_comes_from_the_environment_and_an_error_does_not_show_it(tmp_path):
    (target,) = load(tmp_path, "targets:\n  - {id: a, url: 'wss://h/ws?client_id=${CLIENT_ID}&x=1'}\n")
    assert target.resource == f"/ws?client_id={ENV['CLIENT_ID']}&x=1" and ENV["CLIENT_ID"] in target.secrets
    with pytest.raises(TargetError) as error:
        load(tmp_path, "targets:\n  - {id: a, url: 'wss://h/ws?client_id=${CLIENT_ID}'}\n",
             environ={"CLIENT_ID": "has a space"})
    assert "has a space" not in str(error.value) and "<redacted>" in str(error.value)


@pytest.mark.parametrize(("text", "message"), [
    ("targets: []\n", "'targets' must be a non-empty list of targets"),
    ("[1, 2]\n", "expected a mapping with a 'targets' list"),
    ("targets:\n  - {url: 'ws://h/'}\n", "targets[0]: 'id' must be 1 to 64 letters"),
    ("targets:\n  - {id: a}\n", "target 'a': 'url' is missing (a ws:// or wss:// URL)"),
    ("targets:\n  - {id: a, url: 'http://h/'}\n", "target 'a': url 'http://h/': the scheme must be ws:// or wss://"),
    ("targets:\n  - {id: a, url: 'ws://h/', headers: {X-A: 12345}}\n",
     "target 'a': header 'X-A': the value must be a string such as \"${VAR}\", not a number (the value is not shown)"),
    ("targets:\n  - {id: a, url: 'ws://h/', headers: {X-A: '$TOKEN'}}\n",
     "target 'a': header 'X-A': a '$' that is not a ${VAR} reference (the value is not shown)"),
    ("targets:\n  - {id: a, url: 'ws://h/', headers: {X-A: '${EMPTY}'}}\n",
     "target 'a': header 'X-A': the environment variable EMPTY is empty"),
    ("targets:\n  - {id: a, url: 'ws://h/', headers: {'bad name': '${TOKEN}'}}\n",
     "target 'a': headers: 'bad name' is not a header name"),
    ("targets:\n  - {id: a, url: 'ws://h/', headers: {X-A: '${TOKEN}', x-a: '${TOKEN}'}}\n",
     "target 'a': headers: 'x-a' is given twice"),
    ("targets:\n  - {id: a, url: 'wss://h/', ca: c.pem, insecure: true}\n",
     "target 'a': 'ca' and 'insecure: true' exclude each other"),
    ("targets:\n  - {id: a, url: 'ws://h/', subprotocol: 'a b'}\n", "target 'a': subprotocol 'a b': a subprotocol"),
    ("targets:\n  - {id: a, url: 'ws://h/', subprotocol: {x: 1}}\n",
     "target 'a': 'subprotocol' must be a name or a list of names, not a mapping"),
    ("targets:\n  - {id: a, url: 'ws://h/', timeout: 0}\n", "target 'a': 'timeout' must be a number of seconds"),
    ("targets:\n  - {id: a, url: 'ws://h/', timeout: true}\n", "target 'a': 'timeout' must be a number of seconds"),
    ("targets:\n  - {id: a, url: 'ws://h/', origin: 'http://a b'}\n", "target 'a': origin 'http://a b': an Origin"),
    ("targets:\n  - {id: a, url: 'ws://h/', rate: 0}\n", "target 'a': 'rate' must be a number of requests per second"),
    ("targets:\n  - {id: a, url: 'ws://h/', rate: fast}\n", "target 'a': 'rate' must be a number of requests per second"),
    ("targets:\n  - {id: a, url: 'ws://h/', concurrency: 0}\n", "target 'a': 'concurrency' must be a whole number from 1"),
    ("targets:\n  - {id: a, url: 'ws://h/', concurrency: 2.5}\n", "target 'a': 'concurrency' must be a whole number"),
    ("targets:\n  - {id: a, url: 'ws://h/', concurrency: 257}\n", "target 'a': 'concurrency' must be a whole number"),
    ("targets:\n  - {id: a, url: 'ws://h/', concurrency: true}\n", "target 'a': 'concurrency' must be a whole number"),
    ("targets:\n  - {id: a, url: 'ws://h/', api: none.yaml}\n", "target 'a': api "),
    ("targets:\n  - {id: a, url: 'ws://h/?token=abc-literal'}\n",
     "target 'a': url: the query parameter 'token' holds a credential"),
])
def test_each_problem_is_one_line_naming_the_file_and_target(tmp_path, text, message):
    with pytest.raises(TargetError) as error:
        load(tmp_path, text, environ={**ENV, "EMPTY": " "})
    line = str(error.value)
    assert "\n" not in line and line.startswith(f"--gateway-targets {tmp_path}/conf/targets.yaml: ")
    assert message in line, line
    assert "abc-literal" not in line and ENV["TOKEN"] not in line and "12345" not in line


def test_the_api_definition_is_read_relative_to_the_file(tmp_path):
    from pytest_wsgateway.reference_server.api import DEFAULT_API_PATH

    (tmp_path / "conf" / "apis").mkdir(parents=True)
    (tmp_path / "conf" / "apis" / "orders.yaml").write_bytes(DEFAULT_API_PATH.read_bytes())
    (target,) = load(tmp_path, "targets:\n  - {id: a, url: 'wss://h/websocket-test', api: apis/orders.yaml}\n")
    assert target.api is not None and target.api.declares("/websocket-test")


# -- API descriptions (pytest_wsgateway.apitargets) -------------------------------------------------

APIC = """\
swagger: "2.0"
info: {title: orders, x-ibm-name: orders, version: 1.0.0}
host: gw.example.com/acme/sandbox
basePath: /orders
schemes: [https, wss]
paths:
  /: {get: {responses: {"101": {description: Switching Protocols}}}}
  /live: {get: {responses: {"101": {description: Switching Protocols}}}}
  /items/{id}: {get: {responses: {"101": {description: Switching Protocols}}}}
"""
ASYNCAPI3 = """\
asyncapi: 3.0.0
info: {title: quotes, version: 1.0.0}
servers:
  prod: {host: gw.example.com, pathname: /acme/prod, protocol: wss}
  test: {host: "{env}.example.com:8080", protocol: ws, variables: {env: {default: test}}}
  broker: {host: broker.example.com, protocol: mqtt}
channels:
  quotes:
    address: /quotes
    servers: [{$ref: '#/servers/prod'}]
    bindings: {ws: {method: GET, bindingVersion: 0.1.0}}
  orders:
    address: /orders
    bindings: {$ref: '#/components/channelBindings/post'}
  news: {address: /news}
  item: {address: '/items/{id}', bindings: {ws: {}}}
components:
  channelBindings:
    post: {ws: {method: POST}}
"""


def _described(tmp_path, text, defaults=DEFAULTS):
    warnings = []
    targets = load(tmp_path, text, defaults=defaults, warn=warnings.append)
    return {target.id: target.url for target in targets}, targets, warnings


def test_an_api_connect_websocket_api_gives_one_wss_target_per_path_and_is_their_api_definition(tmp_path):
    urls, targets, warnings = _described(tmp_path, APIC)
    assert urls == {"wss-gw.example.com-acme-sandbox-orders": "wss://gw.example.com/acme/sandbox/orders",
                    "wss-gw.example.com-acme-sandbox-orders-live": "wss://gw.example.com/acme/sandbox/orders/live"}
    assert all(t.api is not None and t.api.declares(t.path) and t.api.schemes == ("https", "wss") for t in targets)
    assert all(t.headers == DEFAULTS["headers"] for t in targets)  # the command line's defaults
    assert warnings == [f"--gateway-targets {tmp_path}/conf/targets.yaml: path '/items/{{id}}' has parameters; "
                        f"skipped (give its URL with --gateway-url)"]


def test_an_asyncapi_3_description_gives_its_ws_channels_on_its_ws_servers(tmp_path):
    urls, _, warnings = _described(tmp_path, ASYNCAPI3)
    assert urls == {"wss-gw.example.com-acme-prod-quotes": "wss://gw.example.com/acme/prod/quotes",
                    "wss-gw.example.com-acme-prod-orders": "wss://gw.example.com/acme/prod/orders",
                    "ws-test.example.com:8080-orders": "ws://test.example.com:8080/orders"}
    assert len(warnings) == 2
    assert "channel 'orders': the ws binding's method is POST, but a WebSocket opening handshake is a GET" in warnings[0]
    assert "channel 'item' (/items/{id}) has parameters; skipped" in warnings[1]


def test_an_asyncapi_2_description_and_an_openapi_3_description(tmp_path):
    urls, _, warnings = _described(tmp_path, """\
asyncapi: 2.6.0
info: {title: t, version: '1'}
servers:
  prod: {url: 'wss://gw.example.com/acme', protocol: wss}
  plain: {url: 'gw.example.com:8080', protocol: ws}
channels:
  /orders: {bindings: {ws: {method: GET}}, subscribe: {message: {payload: {type: string}}}}
  /quiet: {subscribe: {message: {payload: {type: string}}}}
""")
    assert set(urls.values()) == {"wss://gw.example.com/acme/orders", "ws://gw.example.com:8080/orders"}
    assert not warnings
    urls, _, _ = _described(tmp_path, """\
openapi: 3.0.3
info: {title: t, version: '1'}
servers:
  - {url: 'wss://{host}/v1', variables: {host: {default: gw.example.com}}}
  - {url: 'https://gw.example.com/v1'}
paths:
  /stream: {get: {responses: {'101': {description: ok}}}}
  /other:
    servers: [{url: 'ws://edge.example.com:81/'}]
    get: {responses: {'101': {description: ok}}}
""")
    assert set(urls.values()) == {"wss://gw.example.com/v1/stream", "ws://edge.example.com:81/other"}


@pytest.mark.parametrize(("text", "message"), [
    (APIC.replace("host: gw.example.com/acme/sandbox", "host: $(catalog.host)"),
     "host '$(catalog.host)' is an API Connect variable: replace it with the catalog's host"),
    (APIC.replace("[https, wss]", "[https]"), "schemes lists neither wss nor ws"),
    (APIC.replace("host: gw.example.com/acme/sandbox\n", ""), "no host: give the gateway's host"),
    (ASYNCAPI3.replace("protocol: wss", "protocol: mqtt").replace("protocol: ws,", "protocol: mqtt,"),
     "this AsyncAPI 3 description declares no ws:// or wss:// endpoint"),
    (ASYNCAPI3.replace("'#/components/channelBindings/post'", "'other.yaml#/x'"),
     "$ref 'other.yaml#/x': only local references (#/...) are followed"),
    ("openapi: 3.1.0\ninfo: {title: t, version: '1'}\nservers: [{url: 'wss://{h}/'}]\npaths: {/a: {}}\n",
     "server variable 'h' in 'wss://{h}/' has no default"),
])
def test_an_unusable_description_is_one_line(tmp_path, text, message):
    with pytest.raises(TargetError) as error:
        load(tmp_path, text)
    assert "\n" not in str(error.value) and message in str(error.value), str(error.value)
