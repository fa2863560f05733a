"""Protocol numbers are ASCII digits only: ``'²'.isdigit()`` is True but ``int('²')`` raises.

Every place of the package that reads a number off the wire checks ``s.isascii() and s.isdigit()``
(found with ``grep -rn 'isdigit(' pytest_wsgateway reference_server``); a superscript or another
script's digit is a malformed value, never a traceback.
"""

import pytest

from pytest_wsgateway import checks, frames, verdicts
from pytest_wsgateway.exchange import Exchange
from pytest_wsgateway.handshake import MalformedMessage, parse_response_head
from pytest_wsgateway.reference_server.http import Accept, Reject, Request, validate_upgrade

ODD_DIGITS = ("¹²³", "١٢٣", "１２３")  # superscripts (Latin-1), Arabic-Indic, full-width


@pytest.mark.parametrize("digits", ["¹²³"])
def test_status_line_with_superscript_digits_is_malformed_not_a_crash(digits):
    head = f"HTTP/1.1 {digits} Odd\r\nUpgrade: websocket\r\n\r\n".encode("latin-1")
    with pytest.raises(MalformedMessage, match="malformed status line"):
        parse_response_head(head)


def test_status_line_with_ascii_digits_still_parses():
    assert parse_response_head(b"HTTP/1.1 426 Upgrade Required\r\n\r\n").status == 426


@pytest.mark.parametrize("digits", ["¹²", "١٢", "１２"])
def test_deflate_window_bits_in_a_101_are_ascii_only(digits):
    assert checks._window_bits(digits) is None
    assert checks._window_bits("12") == 12
    negotiated = frames.negotiated_deflate([f"permessage-deflate; server_max_window_bits={digits}"])
    assert negotiated is not None and negotiated.server_max_window_bits == 15  # unusable: the default
    assert frames.negotiated_deflate(["permessage-deflate; server_max_window_bits=12"]).server_max_window_bits == 12


@pytest.mark.parametrize("digits", ODD_DIGITS)
def test_retry_after_is_ascii_seconds_only(digits):
    head = f"HTTP/1.1 429 Too Many Requests\r\nRetry-After: {digits}\r\n\r\n".encode()
    exchange = Exchange(request=b"", response_head=head, response=parse_response_head(head))
    assert verdicts.retry_after(exchange) == 1.0  # not seconds: the 1 s default
    head = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\n\r\n"
    assert verdicts.retry_after(Exchange(request=b"", response_head=head, response=parse_response_head(head))) == 3.0


@pytest.mark.parametrize("digits", ["¹", "٠", "０"])
def test_reference_server_content_length_is_ascii_only(digits):
    # The head parser refuses non-ASCII header bytes already; validate_upgrade is public and
    # must not depend on that.
    def decide(value):
        headers = (("Host", "h"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                   ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13"),
                   ("Content-Length", value))
        return validate_upgrade(Request("GET", "/ws", "HTTP/1.1", headers), route_ok={"/ws"})

    refused = decide(digits)
    assert isinstance(refused, Reject) and refused.response.status == 400
    assert isinstance(decide("0"), Accept)
