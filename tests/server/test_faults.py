"""Fault profiles on bytes (sans-I/O), the registry and its expected verdicts
(``tests/expected_verdicts/faults.yaml``), the strict default profile, and the three ways to pick
one: ``ServerConfig(fault=...)``, ``wsgateway-server --fault``, the ``wsgateway_fault`` fixture.

Expected accept values are the published vectors from the field notes, not recomputed here.
"""

from __future__ import annotations

import re

import pytest

from tests import _fault_verdicts
from tests.server._helpers import BASE_HEADERS, CliServer, build_request, run_cli, upgrade_head
from pytest_wsgateway.cases import load_catalogue
from pytest_wsgateway.reference_server import faults
from pytest_wsgateway.reference_server.http import Accept, HttpError, Reject, parse_request_head, validate_upgrade

ROUTES = ("/websocket-test",)
CASE_IDS = {case.id for case in load_catalogue()}
EXPECTED = _fault_verdicts.load()


def decide(fault: faults.Fault | None, data: bytes) -> Accept | Reject | HttpError:
    parse = fault.parse if fault is not None else parse_request_head
    request = parse(data)
    if isinstance(request, HttpError):
        return request
    validate = fault.validate if fault is not None else validate_upgrade
    return validate(request, route_ok=ROUTES, subprotocols=("chat",))


# --- the registry ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", faults.names())
def test_profile_names_real_cases_and_documents_itself(name):
    fault = faults.get(name)
    expected = EXPECTED[name]
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name)
    assert expected.caught_by, "a profile no case is meant to catch cannot be scored"
    named = expected.failing
    assert named <= CASE_IDS, f"unknown case ids: {sorted(named - CASE_IDS)}"
    assert len(set(expected.caught_by)) == len(expected.caught_by)
    assert not set(expected.caught_by) & set(expected.collateral)
    assert all(reason.strip() for reason in expected.collateral.values())
    assert len(fault.doc) > 30 and fault.mistake.endswith(".")


def test_expected_verdicts_cover_exactly_the_profiles_and_name_only_catalogue_cases():
    assert set(EXPECTED) == set(faults.FAULTS), (
        f"profiles without expected verdicts: {sorted(set(faults.FAULTS) - set(EXPECTED))}; "
        f"verdicts for no profile: {sorted(set(EXPECTED) - set(faults.FAULTS))}"
    )
    named = {case for expected in EXPECTED.values() for case in expected.failing}
    assert named and named <= CASE_IDS, f"unknown case ids in {_fault_verdicts.PATH.name}: {sorted(named - CASE_IDS)}"


def test_resolve_and_unknown_names():
    assert faults.resolve(None) is faults.STRICT
    assert faults.resolve("gatewayscript") is faults.FAULTS["gatewayscript"]
    fault = faults.get("no-pong")
    assert faults.resolve(fault) is fault
    with pytest.raises(ValueError, match="unknown fault profile 'nope'; known: gatewayscript, "):
        faults.get("nope")
    with pytest.raises(ValueError, match="unknown rules"):
        faults.Fault("x", doc="d", seen="", ignores=frozenset({"typo"}))


# --- the strict default ----------------------------------------------------------------------------


def test_strict_is_the_default_but_not_a_fault_profile():
    assert faults.resolve(faults.STRICT) is faults.STRICT
    assert faults.STRICT.name == "strict" and "strict" not in faults.FAULTS and "strict" not in faults.names()
    with pytest.raises(ValueError, match="unknown fault profile 'strict'"):
        faults.get("strict")
    strict = faults.STRICT
    assert not strict.ignores and strict.refuses is None and strict.respond is None
    assert strict.delay_101 == 0 and not strict.close_after_101 and not strict.drop_opcodes
    assert strict.rewrite_frame is None and not strict.ping_ends_message and not strict.utf8_unchecked
    # the strict code itself, not a wrapper: the correct server costs nothing extra per connection
    assert strict.parse is parse_request_head and strict.validate is validate_upgrade


@pytest.mark.parametrize(
    "request_kwargs",
    [
        {},
        {"extra": [("Sec-WebSocket-Protocol", "chat, superchat")]},
        {"replace": {"Connection": "keep-alive, Upgrade", "Upgrade": "WebSocket"}},
        {"method": "POST"},
        {"version": "HTTP/1.0"},
        {"drop": ["Host"]},
        {"replace": {"Sec-WebSocket-Key": "AQIDBA=="}},
        {"extra": [("Sec-WebSocket-Key", "x3JJHMbDL1EzLkh9GBhXDw==")]},
        {"replace": {"Sec-WebSocket-Version": "99"}},
    ],
)
def test_strict_seams_are_the_strict_code(request_kwargs):
    data = build_request(**request_kwargs)
    decision = decide(faults.STRICT, data)
    assert decision == decide(None, data)
    if not isinstance(decision, HttpError):
        request = parse_request_head(data)
        assert faults.STRICT.response(request, decision.response) is decision.response
    chunks = [b"\x81\x02hi", b"\x8a\x00", b"\x88\x02\x03\xe8", b""]
    assert faults.STRICT.outgoing(chunks) is chunks


# --- validation faults on bytes ----------------------------------------------------------------


def test_gatewayscript_upgrades_a_keyless_post_and_hashes_the_empty_key():
    data = build_request(method="POST", drop=["Sec-WebSocket-Key", "Upgrade", "Connection"])
    assert isinstance(decide(None, data), Reject)
    decision = decide(faults.get("gatewayscript"), data)
    assert isinstance(decision, Accept)
    response = faults.get("gatewayscript").response(None, decision.response)
    assert response.status == 101
    # field notes: the accept value of the empty key means "a server hashed a missing key"
    assert response.headers == (("Sec-WebSocket-Accept", "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w="),)


def test_any_key_length_answers_the_12_byte_key_with_its_accept():
    data = build_request(replace={"Sec-WebSocket-Key": "U3RyZWFtKDIsID8p"})
    assert isinstance(decide(None, data), Reject)
    decision = decide(faults.get("any-key-length"), data)
    assert isinstance(decision, Accept)
    # field notes: "a server answering this accepted a bad key"
    assert decision.response.get("Sec-WebSocket-Accept") == "vWim+olrbAsFotXFawR2SuvYRvI="
    assert [name for name, _ in decision.response.headers] == ["Upgrade", "Connection", "Sec-WebSocket-Accept"]


@pytest.mark.parametrize(
    ("name", "request_kwargs"),
    [
        ("any-key-length", {"drop": ["Sec-WebSocket-Version"]}),
        ("non-base64-key", {"replace": {"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ"}}),  # 22 characters
        ("duplicate-key", {"method": "POST", "extra": [("Sec-WebSocket-Key", "x3JJHMbDL1EzLkh9GBhXDw==")]}),
        ("version-ignored", {"drop": ["Host"]}),
        ("any-method", {"replace": {"Sec-WebSocket-Key": "AQIDBA=="}}),
        ("host-not-checked", {"version": "HTTP/1.0"}),
        ("upgrade-not-checked", {"replace": {"Connection": "keep-alive"}}),
        ("connection-not-checked", {"replace": {"Upgrade": "h2c"}}),
    ],
)
def test_a_lenient_profile_still_enforces_every_other_rule(name, request_kwargs):
    data = build_request(**request_kwargs)
    strict = decide(None, data)
    faulty = decide(faults.get(name), data)
    assert not isinstance(strict, Accept)
    assert type(faulty) is type(strict) and faulty.status == strict.status


def test_http10_accepted_parses_http10_but_not_other_versions():
    fault = faults.get("http10-accepted")
    request = fault.parse(build_request(version="HTTP/1.0"))
    assert not isinstance(request, HttpError) and request.version == "HTTP/1.0"
    assert isinstance(parse_request_head(build_request(version="HTTP/1.0")), HttpError)
    assert isinstance(fault.parse(build_request(version="HTTP/1.2")), HttpError)
    assert isinstance(decide(fault, build_request(version="HTTP/1.0")), Accept)


def test_too_strict_profiles_refuse_only_the_variant():
    mixed = build_request(replace={"Upgrade": "WebSocket"})
    assert isinstance(decide(None, mixed), Accept)
    refused = decide(faults.get("upgrade-case-sensitive"), mixed)
    assert isinstance(refused, Reject) and refused.status == 426
    assert isinstance(decide(faults.get("upgrade-case-sensitive"), build_request()), Accept)
    firefox = build_request(replace={"Connection": "keep-alive, Upgrade"})
    assert isinstance(decide(faults.get("connection-exact-match"), firefox), Reject)
    assert isinstance(decide(faults.get("connection-exact-match"), build_request()), Accept)


# --- response and frame faults -------------------------------------------------------------------


def test_response_faults_touch_the_101_only():
    ok = decide(None, build_request())
    error = decide(None, build_request(drop=["Upgrade"]))
    assert isinstance(ok, Accept) and isinstance(error, Reject)
    for name in ("wrong-guid", "status-200", "no-connection-header", "content-length-on-101", "unrequested-extension"):
        fault = faults.get(name)
        assert fault.response(None, error.response) == error.response, name
        assert fault.response(None, ok.response) != ok.response, name


def test_version_not_advertised_strips_the_header_from_the_426_only():
    refused = decide(None, build_request(replace={"Sec-WebSocket-Version": "99"}))
    assert refused.response.get("Sec-WebSocket-Version") == "13"
    changed = faults.get("version-not-advertised").response(None, refused.response)
    assert changed.status == 426 and changed.get("Sec-WebSocket-Version") is None
    assert changed.get("Upgrade") == "websocket"


def test_subprotocol_faults_on_offers():
    request = parse_request_head(build_request(extra=[("Sec-WebSocket-Protocol", "chat, superchat")]))
    ok = validate_upgrade(request, route_ok=ROUTES, subprotocols=("chat",))
    assert ok.response.get("Sec-WebSocket-Protocol") == "chat"
    echoed = faults.get("subprotocol-offer-echoed").response(request, ok.response)
    assert [v for k, v in echoed.headers if k == "Sec-WebSocket-Protocol"] == ["chat, superchat"]
    plain = parse_request_head(build_request())
    picked = faults.get("subprotocol-not-offered").response(plain, validate_upgrade(plain, route_ok=ROUTES).response)
    assert picked.get("Sec-WebSocket-Protocol") == "chat"


def test_frame_filters_drop_only_their_opcode():
    pong, close, text = b"\x8a\x00", b"\x88\x02\x03\xe8", b"\x81\x02hi"
    eof = b""
    assert faults.get("no-pong").outgoing([text, pong, close, eof]) == [text, close, eof]
    assert faults.get("no-close-reply").outgoing([text, pong, close, eof]) == [text, pong, eof]


def test_frame_rewrites_change_only_their_control_frames():
    pong, close, text, eof = b"\x8a\x04ping", b"\x88\x05\x03\xefbad", b"\x81\x02hi", b""
    assert faults.get("empty-pong").outgoing([text, pong, close, eof]) == [text, b"\x8a\x00", close, eof]
    assert faults.get("close-code-1005").outgoing([close]) == [b"\x88\x05\x03\xedbad"]
    assert faults.get("close-code-1000").outgoing([text, pong, close, eof]) == [text, pong, b"\x88\x05\x03\xe8bad", eof]
    assert faults.get("close-code-1005").outgoing([b"\x88\x00"]) == [b"\x88\x02\x03\xed"]  # no code: one is added


# --- picking a profile: the CLI and the fixture ---------------------------------------------------


def test_cli_lists_every_profile(tmp_path):
    result = run_cli(["--list-faults"], cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    listed = [line.split(":", 1)[0] for line in result.stdout.splitlines()]
    assert listed == faults.names()


def test_cli_fault_option_serves_the_profile(tmp_path):
    cli = CliServer(["--scheme", "ws", "--fault", "gatewayscript"], cwd=str(tmp_path))
    try:
        fields = cli.wait_ready()
        assert fields["fault"] == [f"gatewayscript: {faults.get('gatewayscript').mistake}"]
        host, port = fields["url"][0].split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        response = upgrade_head((host, int(port)), build_request(replace={"Sec-WebSocket-Key": "AQIDBA=="}))
        assert response.status == 101 and response.get("Upgrade") is None
    finally:
        cli.kill()


def test_cli_rejects_an_unknown_profile_and_a_stray_delay(tmp_path):
    unknown = run_cli(["--scheme", "ws", "--fault", "nope"], cwd=str(tmp_path))
    assert unknown.returncode == 2 and "invalid choice: 'nope'" in unknown.stderr
    stray = run_cli(["--scheme", "ws", "--fault-delay", "2"], cwd=str(tmp_path))
    assert stray.returncode == 2 and "--fault-delay needs --fault delayed-101" in stray.stderr


@pytest.mark.parametrize("wsgateway_fault", ["no-connection-header"], indirect=True)
def test_fixture_parameter_reaches_the_server(wsgateway_server):
    host, port = wsgateway_server.address("ws")
    response = upgrade_head((host, port), build_request(headers=BASE_HEADERS))
    assert response.status == 101 and response.get("Connection") is None
    assert response.get("Upgrade") == "websocket"


def test_fixture_default_is_the_correct_server(wsgateway_server, wsgateway_fault):
    assert wsgateway_fault is None
    host, port = wsgateway_server.address("ws")
    response = upgrade_head((host, port), build_request())
    assert response.status == 101 and response.get("Connection") == "Upgrade"


def test_the_fault_profiles_page_is_generated_from_the_registry():
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "docs" / "gen_fault_profiles.py"
    spec = importlib.util.spec_from_file_location("gen_fault_profiles", script)
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    text = generator.render()
    for name in faults.names():
        assert f"| `{name}` |" in text
    assert generator.PAGE.read_text(encoding="utf-8") == text, "run: python docs/gen_fault_profiles.py"
