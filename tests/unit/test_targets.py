"""Turning --gateway-url / --gateway-header values into targets (pure; usage errors are one line)."""

import re

import pytest

from pytest_wsgateway.targets import TargetError, parse_header, parse_url, unique_ids


def test_url_parts_and_defaults():
    target = parse_url("wss://gw.example.com/org/sandbox/websocket-test?x=1", ca_file="ca.pem")
    assert (target.scheme, target.host, target.port) == ("wss", "gw.example.com", 443)
    assert target.resource == "/org/sandbox/websocket-test?x=1" and target.path == "/org/sandbox/websocket-test"
    assert target.host_header == "gw.example.com" and target.ca_file == "ca.pem"
    assert target.id == "wss-gw.example.com-org-sandbox-websocket-test"


def test_explicit_ports_and_ipv6_hosts():
    assert parse_url("ws://127.0.0.1:8080").host_header == "127.0.0.1:8080"
    assert parse_url("ws://127.0.0.1:8080").resource == "/"
    target = parse_url("wss://[::1]:8443/ws")
    assert (target.host, target.host_header, target.url) == ("::1", "[::1]:8443", "wss://[::1]:8443/ws")
    assert parse_url("ws://h", ca_file="ca.pem").ca_file is None  # a CA only matters for wss


@pytest.mark.parametrize(("url", "message"), [
    ("http://gw/ws", "scheme must be ws:// or wss://"),
    ("gw.example.com/ws", "scheme must be ws:// or wss://"),
    ("ws:///path", "has no host name"),
    ("ws://gw:99999/", "is not a valid URL"),
    ("ws://user:pw@gw/", "credentials in the URL"),
    ("ws://gw/#frag", "must not have a fragment"),
    ("ws://gw:0/", "port 0 cannot be connected to"),
    ("ws://gw/a b", "write ' ' as %20"),
    ("ws://gw/ws?q=€", "write '€' as %E2%82%AC"),
    ("ws://gw/w\ts", "write '\\t' as %09"),  # urlsplit would silently drop it
    ("ws://g\nw/ws", "write '\\n' as %0A"),
    ("ws://bücher.example/", "host name must be ASCII"),
    ("gw.example:8443", "scheme must be ws:// or wss://, not missing"),
])
def test_bad_urls_are_one_line_errors(url, message):
    with pytest.raises(TargetError, match=re.escape(message)) as info:
        parse_url(url)
    assert "\n" not in str(info.value)


def test_credentials_are_not_echoed_in_the_error():
    with pytest.raises(TargetError) as info:
        parse_url("ws://user:hunter2@gw/")
    assert "credentials" in str(info.value)


def test_repeated_ids_get_suffixes():
    ids = [t.id for t in unique_ids([parse_url("ws://gw/a"), parse_url("ws://gw/a?x=1"), parse_url("ws://gw/b")])]
    assert ids == ["ws-gw-a", "ws-gw-a-2", "ws-gw-b"]


def test_headers_parse_and_bad_ones_do_not_echo_the_value():
    assert parse_header("X-IBM-Client-Id:  abc123 ") == ("X-IBM-Client-Id", "abc123")
    with pytest.raises(TargetError) as info:
        parse_header("Bad Name: s3cr3t-value")
    assert "s3cr3t-value" not in str(info.value)
    with pytest.raises(TargetError):
        parse_header("no-colon-s3cr3t")


@pytest.mark.parametrize(("text", "value"), [
    ("X-Api-Key: abc€", "€"),
    ("X-Api-Key: abc\x1bdef", "\x1b"),
    ("X-Api-Key: abc\x7f", "\x7f"),
])
def test_header_values_outside_rfc9110_field_values_are_refused_without_echo(text, value):
    with pytest.raises(TargetError, match="visible ASCII or Latin-1") as info:
        parse_header(text)
    assert "abc" not in str(info.value) and value not in str(info.value)
    assert parse_header("X-Latin-1: caf\xe9\tau lait") == ("X-Latin-1", "caf\xe9\tau lait")  # obs-text, HTAB


@pytest.mark.parametrize("text", ["X-Api-Key TOPSECRET:xyz", "X-Api-Key\tTOPSECRET: xyz", "X-Api-Key=TOPSECRET: x",
                                  "X-Api-Key/TOPSECRET: x"])
def test_a_misplaced_colon_never_shows_what_follows_a_space(text):
    with pytest.raises(TargetError) as info:
        parse_header(text)
    assert "TOPSECRET" not in str(info.value) and "xyz" not in str(info.value)


def test_messages_name_the_source_of_the_value():
    with pytest.raises(TargetError, match="^WSGATEWAY_URL 'http://gw/'"):
        parse_url("http://gw/", option="WSGATEWAY_URL")
    with pytest.raises(TargetError, match="^WSGATEWAY_HEADER: expected"):
        parse_header("nocolon", "WSGATEWAY_HEADER")
