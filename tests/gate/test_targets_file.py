"""``--gateway-targets FILE``: three gateways, each with its own header, CA and subprotocol, in one run.

Three reference servers, each configured differently: one answers 401 (API Connect's JSON) unless
``X-IBM-Client-Id`` carries its client id, one is wss:// under its own CA and wants a bearer token,
one is wss:// under another CA, wants an API key and speaks a subprotocol. One targets file with
header values by ``${VAR}`` reference points at all three: every case passes. The same file with
one variable holding a wrong value makes that target -- and only that one -- inconclusive.
Bad files are one usage-error line that never shows a secret.
"""

from __future__ import annotations

import contextlib
import json
import shutil

import pytest

from pytest_wsgateway import checks
from pytest_wsgateway.cases import load_catalogue
from pytest_wsgateway.reference_server import ServerConfig, issue_server_cert, make_ca, server_ssl_context, write_ca_pem
from pytest_wsgateway.reference_server.api import DEFAULT_API_PATH
from pytest_wsgateway.reference_server.faults import Fault
from pytest_wsgateway.reference_server.http import HttpResponse
from tests.gate._helpers import SUITE
from tests.harness import alias_bomb, reference_server

CLIENT_ID = "3f9a2c7e51d84b06aa11"
TOKEN = "eyJhbGciOi.tok-7c1d2e"
API_KEY = "key-9b8a7c6d5e4f"
SECRET = "TOPSECRET-4f1c9e"
SUBPROTOCOL = "orders.v2"
ENV = {"WSGT_CLIENT_ID": CLIENT_ID, "WSGT_TOKEN": TOKEN, "WSGT_API_KEY": API_KEY}


def _requires(header: str, value: str):
    """A ``respond`` hook: 401 with API Connect's JSON body unless ``header`` is ``value``."""

    def respond(request, response):
        if request is not None and request.get(header) == value:
            return response
        body = json.dumps({"httpCode": "401", "httpMessage": "Unauthorized",
                           "moreInformation": f"{header} missing or wrong."}).encode()
        return HttpResponse(401, "Unauthorized", (("Content-Type", "application/json"),
                                                  ("Content-Length", str(len(body))), ("Connection", "close")), body)

    return respond


@contextlib.contextmanager
def three_gateways(folder):
    """Three servers and a targets file (with relative CA and API paths) for them: yields the file."""
    certs = folder / "certs"
    certs.mkdir()
    ca_b, ca_c = make_ca(), make_ca()
    write_ca_pem(ca_b, certs / "b-ca.pem")
    write_ca_pem(ca_c, certs / "c-ca.pem")
    (folder / "apis").mkdir()
    shutil.copy(DEFAULT_API_PATH, folder / "apis" / "orders.yaml")
    a = ServerConfig(schemes=("ws",), fault=Fault(name="apic", doc="client id", seen="",
                                                  respond=_requires("X-IBM-Client-Id", CLIENT_ID)))
    b = ServerConfig(schemes=("wss",), ssl_context=server_ssl_context(issue_server_cert(ca_b)),
                     fault=Fault(name="bearer", doc="token", seen="", respond=_requires("Authorization",
                                                                                       f"Bearer {TOKEN}")))
    c = ServerConfig(schemes=("wss",), ssl_context=server_ssl_context(issue_server_cert(ca_c)),
                     subprotocols=(SUBPROTOCOL,),
                     fault=Fault(name="key", doc="api key", seen="", respond=_requires("X-Api-Key", API_KEY)))
    with reference_server(a) as sa, reference_server(b) as sb, reference_server(c) as sc:
        path = folder / "targets.yaml"
        path.write_text(f"""\
targets:
  - id: apic-orders
    url: {sa.urls['ws']}
    headers: {{X-IBM-Client-Id: "${{WSGT_CLIENT_ID}}"}}
    echo: true
  - id: bearer-wss
    url: {sb.urls['wss'].replace('127.0.0.1', 'localhost')}
    headers:
      Authorization: "Bearer ${{WSGT_TOKEN}}"
    ca: certs/b-ca.pem
    api: apis/orders.yaml
    echo: true
    timeout: 4
  - id: key-wss
    url: {sc.urls['wss']}
    headers: {{X-Api-Key: "${{WSGT_API_KEY}}"}}
    ca: certs/c-ca.pem
    subprotocol: [{SUBPROTOCOL}]
    echo: true
""")
        yield path


def _verdicts(reprec) -> dict[tuple[str, str], str]:
    """(case id, target id) -> passed / failed / inconclusive / skipped."""
    verdicts = {}
    for report in reprec.getreports("pytest_runtest_logreport"):
        if "::test_conformance[" not in report.nodeid or (report.when != "call" and not report.skipped):
            continue
        case, target = report.nodeid.split("[", 1)[1].rstrip("]").rsplit("@", 1)
        inconclusive = "wsgateway_inconclusive" in dict(report.user_properties)
        verdicts[case, target] = "inconclusive" if report.failed and inconclusive else report.outcome
    return verdicts


def _by_target(verdicts) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for (_, target), verdict in verdicts.items():
        found.setdefault(target, set()).add(verdict)
    return found


def test_three_targets_with_their_own_header_ca_and_subprotocol_all_pass(pytester, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    with three_gateways(pytester.path) as path:
        reprec = pytester.inline_run(*SUITE, f"--gateway-targets={path.name}")
    verdicts = _verdicts(reprec)
    assert _by_target(verdicts) == {"apic-orders": {"passed", "skipped"}, "bearer-wss": {"passed", "skipped"},
                                    "key-wss": {"passed", "skipped"}}, verdicts
    assert reprec.ret == pytest.ExitCode.OK
    # Each target's own settings were used: the subprotocol cases ran on key-wss only, the API
    # definition cases on bearer-wss only.
    for need, target in (("subprotocol", "key-wss"), ("api", "bearer-wss")):
        cases = [case.id for case in load_catalogue()  # the targets file runs no HTTP/2 case (http2 off)
                 if need in case.requires and "wss" in case.schemes and case.transport == "http/1.1"]
        assert cases
        for case in cases:
            assert {t: verdicts[case, t] for t in ("bearer-wss", "key-wss") if (case, t) in verdicts} == {
                t: ("passed" if t == target else "skipped") for t in ("bearer-wss", "key-wss")}, case


def test_a_wrong_value_in_one_variable_makes_only_that_target_inconclusive(pytester, monkeypatch):
    for name, value in {**ENV, "WSGT_TOKEN": "not-the-token-123"}.items():
        monkeypatch.setenv(name, value)
    with three_gateways(pytester.path) as path:
        reprec = pytester.inline_run(*SUITE, f"--gateway-targets={path.name}")
    reasons = {dict(r.user_properties).get("wsgateway_inconclusive") for r in reprec.getreports("pytest_runtest_logreport")
               if r.failed and "wsgateway_inconclusive" in dict(r.user_properties)}
    assert reasons and all(reason.endswith("the valid upgrade is refused too (401 Unauthorized) -- the gateway refuses "
                                           "the credentials sent (Authorization): check their values")
                           for reason in reasons), reasons
    verdicts = _verdicts(reprec)
    by_target = _by_target(verdicts)
    assert by_target["apic-orders"] == {"passed", "skipped"} and by_target["key-wss"] == {"passed", "skipped"}
    # On bearer-wss every case that needs the network is inconclusive; only the cases that judge
    # the API definition alone still pass.
    offline = {case.id for case in load_catalogue() if checks.offline(name for name, _ in case.expect)}
    wrong = {case: verdict for (case, target), verdict in verdicts.items() if target == "bearer-wss"
             and verdict != "skipped" and verdict != ("passed" if case in offline else "inconclusive")}
    assert not wrong and "inconclusive" in by_target["bearer-wss"], wrong
    assert reprec.ret == pytest.ExitCode.TESTS_FAILED


def test_file_targets_and_url_targets_combine_and_the_header_lines_name_each_trust(pytester, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    with three_gateways(pytester.path) as path:
        extra = path.read_text().split("url: ")[1].splitlines()[0]  # the ws:// server once more, by URL
        result = pytester.runpytest_subprocess(*SUITE, f"--gateway-targets={path.name}", f"--gateway-url={extra}",
                                               "--gateway-header=X-IBM-Client-Id: " + CLIENT_ID,
                                               "-k", "upgrade-status-101", timeout=120)
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.OK, out
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["wsgateway: 4 target(s): ws://127.0.0.1:*, ws://127.0.0.1:*, wss://localhost:*, "
                                 "wss://127.0.0.1:*",
                                 "wsgateway: TLS verified against certs/b-ca.pem: bearer-wss",
                                 "wsgateway: TLS verified against certs/c-ca.pem: key-wss"])
    assert CLIENT_ID not in out and TOKEN not in out and API_KEY not in out


def test_under_xdist_every_worker_reads_the_same_targets(pytester, monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    with three_gateways(pytester.path) as path:
        result = pytester.runpytest_subprocess(*SUITE, f"--gateway-targets={path.name}", "-n", "2", "-k", "upgrade-",
                                               timeout=180)
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.OK, out
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 3 * 3 and not outcomes.get("failed") and not outcomes.get("inconclusive"), out
    assert CLIENT_ID not in out and TOKEN not in out and API_KEY not in out


# -- usage errors: one line, exit 4, never a secret -------------------------------------------------


def _usage_error(pytester, text: str, line: str, *args: str) -> None:
    (pytester.path / "targets.yaml").write_text(text)
    result = pytester.runpytest_subprocess(*SUITE, *(args or ("--gateway-targets=targets.yaml",)), timeout=120)
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, out
    assert result.stderr.lines and result.stderr.lines[0] == line, out
    assert "Traceback" not in out and "passed" not in out and "failed" not in out
    assert SECRET not in out


ONE = "targets:\n  - id: gw\n    url: ws://gw.invalid/ws\n"


@pytest.mark.parametrize(("text", "line"), [
    pytest.param(ONE + f"    headers: {{X-IBM-Client-Id: {SECRET}}}\n",
                 "ERROR: --gateway-targets targets.yaml: target 'gw': header 'X-IBM-Client-Id': a literal value is "
                 "not accepted; give it by reference to the environment, e.g. \"${VAR}\" or \"Bearer ${VAR}\" "
                 "(the value is not shown)", id="literal-secret"),
    pytest.param(ONE + f"    headers: {{Authorization: 'Bearer {SECRET}'}}\n",
                 "ERROR: --gateway-targets targets.yaml: target 'gw': header 'Authorization': a literal value is "
                 "not accepted; give it by reference to the environment, e.g. \"${VAR}\" or \"Bearer ${VAR}\" "
                 "(the value is not shown)", id="literal-bearer"),
    pytest.param(ONE + "    headers: {X-Api-Key: '${WSGT_SURELY_UNSET_VARIABLE}'}\n",
                 "ERROR: --gateway-targets targets.yaml: target 'gw': header 'X-Api-Key': the environment variable "
                 "WSGT_SURELY_UNSET_VARIABLE is not set", id="unset-variable"),
    pytest.param(ONE + "    subprotocols: [chat]\n",
                 "ERROR: --gateway-targets targets.yaml: target 'gw': unknown key 'subprotocols' "
                 "(did you mean 'subprotocol'?)", id="bad-key"),
    pytest.param(ONE + "    colour: blue\n",
                 "ERROR: --gateway-targets targets.yaml: target 'gw': unknown key 'colour' (expected one of: id, url, "
                 "headers, ca, insecure, subprotocol, echo, origin, api, timeout, secret_param, idle, rate, concurrency, max_message)", id="unknown-key"),
    pytest.param(ONE + "    timeout: '3'\n",
                 "ERROR: --gateway-targets targets.yaml: target 'gw': 'timeout' must be a number of seconds above 0 "
                 "(at most 3600)", id="wrong-type"),
    pytest.param(ONE + "    echo: yes please\n",
                 "ERROR: --gateway-targets targets.yaml: target 'gw': 'echo' must be true or false, not a string",
                 id="wrong-type-bool"),
    pytest.param(ONE + ONE.split("\n", 1)[1],
                 "ERROR: --gateway-targets targets.yaml: target id 'gw' is given twice (ids must be unique)",
                 id="duplicate-id"),
    pytest.param("targets:\n  - id: 'gw@prod'\n    url: ws://gw.invalid/ws\n",
                 "ERROR: --gateway-targets targets.yaml: targets[0]: 'id' 'gw@prod' must be 1 to 64 letters, digits, "
                 "'.', '_' or '-', starting with a letter or digit", id="unsafe-id"),
    pytest.param(f"targets:\n  - id: gw\n    url: wss://gw.invalid/ws?client_id={SECRET}\n",
                 "ERROR: --gateway-targets targets.yaml: target 'gw': url: the query parameter 'client_id' holds a "
                 "credential: give it by reference to the environment, e.g. client_id=${VAR} (the value is not "
                 "shown)", id="literal-query-credential"),
    pytest.param("target:\n  - id: gw\n",
                 "ERROR: --gateway-targets targets.yaml: unknown key 'target' (expected 'targets', or an OpenAPI / "
                 "AsyncAPI description)", id="top-key"),
    pytest.param(ONE + "    ca: certs/none.pem\n",
                 "ERROR: --gateway-targets targets.yaml: target 'gw': ca certs/none.pem: no such file", id="no-ca"),
])
def test_a_bad_targets_file_is_one_line_that_shows_no_secret(pytester, text, line):
    _usage_error(pytester, text, line)


def test_the_message_names_the_environment_variable_that_gave_the_file(pytester, monkeypatch):
    monkeypatch.setenv("WSGATEWAY_TARGETS", "targets.yaml")
    _usage_error(pytester, ONE + "    colour: blue\n",
                 "ERROR: WSGATEWAY_TARGETS targets.yaml: target 'gw': unknown key 'colour' (expected one of: id, url, "
                 "headers, ca, insecure, subprotocol, echo, origin, api, timeout, secret_param, idle, rate, concurrency, max_message)", "-q")


def test_a_yaml_alias_bomb_and_a_huge_file_are_refused_at_once(pytester):
    bomb = alias_bomb("targets: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n")
    _usage_error(pytester, bomb, "ERROR: --gateway-targets targets.yaml: YAML aliases (*name) are not accepted "
                                 "(line 3, column 8)")
    _usage_error(pytester, ONE + "#" * (1 << 20) + "\n",
                 "ERROR: --gateway-targets targets.yaml: larger than 1 MiB; not a targets file")


def test_an_id_that_a_url_target_has_too_is_refused(pytester):
    _usage_error(pytester, "targets:\n  - id: ws-gw.invalid-ws\n    url: ws://gw.invalid/other\n",
                 "ERROR: --gateway-targets targets.yaml: target id 'ws-gw.invalid-ws' is also the id of a "
                 "--gateway-url target (ids must be unique)",
                 "--gateway-targets=targets.yaml", "--gateway-url=ws://gw.invalid/ws")


# -- targets from API descriptions -----------------------------------------------------------------


def test_an_api_connect_swagger_file_gives_its_wss_endpoint_with_its_own_definition(pytester, monkeypatch):
    monkeypatch.setenv("WSGT_CLIENT_ID", CLIENT_ID)
    ca = make_ca()
    write_ca_pem(ca, pytester.path / "ca.pem")
    config = ServerConfig(schemes=("wss",), ssl_context=server_ssl_context(issue_server_cert(ca)),
                          fault=Fault(name="apic", doc="client id", seen="",
                                      respond=_requires("X-IBM-Client-Id", CLIENT_ID)))
    with reference_server(config) as server:
        port = server.urls["wss"].rsplit(":", 1)[1].split("/")[0]
        # API Connect's shape: the catalog host (here without an org/catalog prefix), [https, wss].
        (pytester.path / "orders.yaml").write_text(f"""\
swagger: "2.0"
info: {{title: websocket-test, x-ibm-name: websocket-test, version: 1.0.0}}
host: localhost:{port}
basePath: /websocket-test
schemes: [https, wss]
paths:
  /:
    get: {{responses: {{"101": {{description: Switching Protocols}}}}}}
""")
        reprec = pytester.inline_run(*SUITE, "--gateway-targets=orders.yaml", "--gateway-ca=ca.pem", "--gateway-echo",
                                     f"--gateway-header=X-IBM-Client-Id: {CLIENT_ID}")
    verdicts = _verdicts(reprec)
    assert _by_target(verdicts) == {f"wss-localhost:{port}-websocket-test": {"passed", "skipped"}}, verdicts
    # The description is the target's API definition: the API cases ran (and passed).
    api_cases = [case.id for case in load_catalogue() if "api" in case.requires and "wss" in case.schemes]
    assert api_cases and all(verdicts[case, f"wss-localhost:{port}-websocket-test"] == "passed" for case in api_cases)
    assert reprec.ret == pytest.ExitCode.OK


ASYNCAPI = """\
asyncapi: 3.0.0
info: {{title: echo, version: 1.0.0}}
servers:
  local: {{host: "127.0.0.1:{port}", protocol: ws}}
channels:
  echo:
    address: /websocket-test
    bindings: {{ws: {{method: GET, bindingVersion: 0.1.0}}}}
  orders:
    address: /websocket-test/orders
    bindings: {{ws: {{method: POST}}}}
  events:
    address: /events
"""


def test_an_asyncapi_3_file_gives_its_ws_channels_and_a_post_binding_is_a_warning(pytester):
    from pytest_wsgateway.reference_server.api import load_api_definition

    api = pytester.path / "server-api.yaml"
    api.write_text('swagger: "2.0"\ninfo: {title: t, version: "1"}\nbasePath: /websocket-test\nschemes: [ws]\n'
                   'paths: {/: {get: {}}, /orders: {get: {}}}\n')
    with reference_server(ServerConfig(schemes=("ws",), api=load_api_definition(str(api)))) as server:
        port = server.urls["ws"].rsplit(":", 1)[1].split("/")[0]
        (pytester.path / "echo.yaml").write_text(ASYNCAPI.format(port=port))
        result = pytester.runpytest_subprocess(*SUITE, "--gateway-targets=echo.yaml", "-k", "upgrade-status-101",
                                               "-rw", timeout=120)
        strict = pytester.runpytest_subprocess(*SUITE, "--gateway-targets=echo.yaml", "-k", "upgrade-status-101",
                                               "-W", "error", timeout=120)
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.OK, out
    result.assert_outcomes(passed=2, warnings=1)
    result.stdout.fnmatch_lines([
        f"wsgateway: 2 target(s): ws://127.0.0.1:{port}/websocket-test, ws://127.0.0.1:{port}/websocket-test/orders",
        "*PytestConfigWarning: wsgateway: --gateway-targets echo.yaml: channel 'orders': the ws binding's method "
        "is POST, but a WebSocket opening handshake is a GET (RFC 6455 §4.1); the description is wrong, the "
        "target is tested with GET"])
    assert "/events" not in out  # no ws binding: not a WebSocket channel
    # Under -W error the warning is one usage-error line, not an INTERNALERROR.
    assert strict.ret == pytest.ExitCode.USAGE_ERROR
    assert strict.stderr.lines[0].startswith("ERROR: --gateway-targets echo.yaml: channel 'orders': the ws binding's")
    assert "INTERNALERROR" not in strict.stdout.str() + strict.stderr.str()
