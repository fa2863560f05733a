"""The reference server over HTTP/2 (RFC 8441): the extended CONNECT decision on literal field lists
(sans-I/O), and the server itself on real sockets driven by a plain ``h2`` client (not the suite's
transport): ALPN ``h2`` on wss, h2c with prior knowledge on ws only when asked, SETTINGS with
ENABLE_CONNECT_PROTOCOL = 1, per-stream refusals that leave the connection usable, the WebSocket
on DATA (ping/pong, echo past the flow-control window, close then END_STREAM).
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import time

import pytest
import trustme
from websockets.frames import Close, Frame, Opcode

from pytest_wsgateway.reference_server import ReferenceServer, ServerConfig, certs
from pytest_wsgateway.reference_server.http2 import (PROTOCOL_ERROR, H2Accept, H2Reject,
                                                      validate_extended_connect)

ROUTE = "/websocket-test"
VALID = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"), (":path", ROUTE),
         (":authority", "localhost"), ("sec-websocket-version", "13")]


def decide(fields, **options):
    options.setdefault("route_ok", (ROUTE,))
    return validate_extended_connect(fields, **options)


def edit(remove=(), **changes):
    fields = [(name, changes.pop(name, value)) for name, value in VALID if name not in remove]
    return fields + list(changes.items())


# --- the decision, on literal field lists ------------------------------------------------------


def test_a_valid_extended_connect_gets_200_with_date_and_nothing_of_rfc6455s_key():
    decision = decide(VALID, date="Mon, 30 Nov 2026 11:00:00 GMT")
    assert isinstance(decision, H2Accept)
    assert decision.response.header_list() == [(":status", "200"), ("date", "Mon, 30 Nov 2026 11:00:00 GMT")]
    assert decision.subprotocol is None and decision.extensions == ()


@pytest.mark.parametrize(("fields", "why"), [
    (edit(remove=[":path"]), ":path"),
    (edit(remove=[":scheme"]), ":scheme"),
    (edit(remove=[":authority"]), ":authority"),
    (edit(remove=[":method"]), ":method"),
    (VALID + [("Sec-WebSocket-Protocol", "chat")], "lowercase"),
    (VALID + [("connection", "upgrade")], "connection-specific"),
    (VALID + [("upgrade", "websocket")], "connection-specific"),
    (VALID + [("te", "gzip")], "connection-specific"),
    ([VALID[0], ("x-a", "1"), *VALID[1:]], "after a regular field"),
    (VALID[:5] + [(":path", "/again")] + VALID[5:], "twice"),
    (VALID[:5] + [(":status", "200")] + VALID[5:], "unknown pseudo-header"),
    (edit(**{":method": "GET"}), "not CONNECT"),
])
def test_a_malformed_request_is_a_stream_error(fields, why):
    decision = decide(fields)
    assert isinstance(decision, H2Reject) and decision.response.reset == PROTOCOL_ERROR, decision
    assert why in decision.detail


@pytest.mark.parametrize(("fields", "status", "extra"), [
    (edit(**{":protocol": "wsgateway-bogus"}), 501, ()),
    (edit(**{"sec-websocket-version": "99"}), 400, (("sec-websocket-version", "13"),)),
    (edit(remove=["sec-websocket-version"]), 400, (("sec-websocket-version", "13"),)),
    (VALID + [("sec-websocket-version", "13")], 400, (("sec-websocket-version", "13"),)),
    (edit(**{":path": "/nowhere"}), 404, ()),
    ([(":method", "GET"), (":scheme", "https"), (":path", ROUTE), (":authority", "localhost")], 405,
     (("allow", "CONNECT"),)),
    ([(":method", "CONNECT"), (":authority", "localhost:443")], 501, ()),
])
def test_an_unsupported_request_gets_an_error_response_with_lowercase_fields(fields, status, extra):
    decision = decide(fields)
    assert isinstance(decision, H2Reject) and decision.response.reset is None
    response = decision.response
    assert response.status == status and response.body
    assert all(field in response.fields for field in extra)
    assert all(name == name.lower() for name, _ in response.fields)
    assert ("content-length", str(len(response.body))) in response.fields


def test_end_stream_on_the_connect_is_refused():
    assert decide(VALID, ended=True).response.status == 400


def test_subprotocol_and_permessage_deflate_are_negotiated_as_over_http11():
    fields = VALID + [("sec-websocket-protocol", "x-unknown, chat"),
                      ("sec-websocket-extensions", "permessage-deflate; client_max_window_bits")]
    decision = decide(fields, subprotocols=("chat",), permessage_deflate=True)
    assert isinstance(decision, H2Accept) and decision.subprotocol == "chat" and len(decision.extensions) == 1
    fields_out = dict(decision.response.fields)
    assert fields_out["sec-websocket-protocol"] == "chat"
    assert fields_out["sec-websocket-extensions"].startswith("permessage-deflate")
    declined = decide(fields, subprotocols=("other",), permessage_deflate=False)
    assert declined.response.fields == () and declined.extensions == ()


def test_fault_ignores_relax_exactly_their_rule():
    assert isinstance(decide(edit(**{":protocol": "bogus"}), ignores={"protocol"}), H2Accept)
    assert isinstance(decide(edit(remove=[":path"]), ignores={"path"}), H2Accept)
    assert isinstance(decide(edit(**{"sec-websocket-version": "99"}), ignores={"version"}), H2Accept)
    assert decide(edit(remove=[":authority"]), ignores={"path"}).response.reset == PROTOCOL_ERROR


def test_importing_the_server_does_not_import_h2():
    code = ("import sys; import pytest_wsgateway.reference_server.server, pytest_wsgateway.reference_server.faults, "
            "pytest_wsgateway.reference_server.http2; print('h2' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


# --- the server, on real sockets ---------------------------------------------------------------


@pytest.fixture(scope="module")
def ca():
    return trustme.CA()


@pytest.fixture(scope="module")
def server(ca):
    context = certs.server_ssl_context(certs.issue_server_cert(ca))
    config = ServerConfig(schemes=("ws", "wss"), ssl_context=context, subprotocols=("chat",), h2c=True,
                          max_message_size=1 << 20)
    with ReferenceServer(config) as running:
        yield running


class Client:
    """A plain h2 client on a socket, every read against a deadline."""

    def __init__(self, sock: socket.socket) -> None:
        import h2.config
        import h2.connection

        self.sock = sock
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding=None, validate_outbound_headers=False,
            normalize_outbound_headers=False))
        self.h2.initiate_connection()
        self.events: list = []
        self.data: dict[int, bytes] = {}
        self.flush()

    def flush(self) -> None:
        self.sock.sendall(self.h2.data_to_send())

    def read_until(self, done, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"timed out; events so far: {self.events}"
            self.sock.settimeout(remaining)
            chunk = self.sock.recv(65536)
            assert chunk, f"connection closed; events so far: {self.events}"
            for event in self.h2.receive_data(chunk):
                self.events.append(event)
                data = getattr(event, "data", None)
                if data is not None and getattr(event, "stream_id", 0):
                    self.data[event.stream_id] = self.data.get(event.stream_id, b"") + data
                    self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            self.flush()

    def of(self, kind: str, stream_id: int | None = None) -> list:
        return [e for e in self.events if type(e).__name__ == kind
                and (stream_id is None or getattr(e, "stream_id", None) == stream_id)]

    def connect(self, fields) -> int:
        stream_id = self.h2.get_next_available_stream_id()
        self.h2.send_headers(stream_id, [(n.encode(), v.encode()) for n, v in fields])
        self.flush()
        self.read_until(lambda: self.of("ResponseReceived", stream_id) or self.of("StreamReset", stream_id))
        return stream_id

    def send_frame(self, stream_id: int, frame: Frame) -> None:
        self.h2.send_data(stream_id, frame.serialize(mask=True, extensions=[]))
        self.flush()


def _tls(server, ca, alpn) -> socket.socket:
    host, port = server.address("wss")
    context = ssl.create_default_context()
    ca.configure_trust(context)
    context.set_alpn_protocols(list(alpn))
    return context.wrap_socket(socket.create_connection((host, port), timeout=5), server_hostname="localhost")


def _frames(data: bytes) -> list[Frame]:
    from websockets.streams import StreamReader

    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    frames = []
    parser = Frame.parse(reader.read_exact, mask=False)
    while True:
        try:
            next(parser)
        except StopIteration as done:
            frames.append(done.value)
            parser = Frame.parse(reader.read_exact, mask=False)
        except EOFError:
            return frames


def test_over_tls_alpn_h2_the_server_offers_extended_connect_and_tunnels_a_websocket(server, ca):
    with _tls(server, ca, ("h2", "http/1.1")) as sock:
        assert sock.selected_alpn_protocol() == "h2"
        client = Client(sock)
        client.read_until(lambda: client.of("RemoteSettingsChanged"))
        settings = client.of("RemoteSettingsChanged")[0].changed_settings
        assert settings[0x8].new_value == 1  # SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441 §3)
        stream = client.connect(VALID + [("sec-websocket-protocol", "chat")])
        response = client.of("ResponseReceived", stream)[0]
        headers = dict(response.headers)
        assert headers[b":status"] == b"200" and response.stream_ended is None
        assert headers[b"sec-websocket-protocol"] == b"chat" and b"sec-websocket-accept" not in headers
        assert all(name == name.lower() for name, _ in response.headers)
        client.send_frame(stream, Frame(Opcode.PING, b"over h2"))
        client.read_until(lambda: any(f.opcode is Opcode.PONG for f in _frames(client.data.get(stream, b""))))
        assert [f.data for f in _frames(client.data[stream])] == [b"over h2"]
        # An echo larger than the initial flow-control window (65535) comes back whole.
        big = bytes(range(256)) * 1024
        client.data[stream] = b""
        client.h2.increment_flow_control_window(1 << 20)
        client.h2.increment_flow_control_window(1 << 20, stream_id=stream)
        for start in range(0, len(big) + 1, 16000):  # a fragmented binary message, within our window
            last = start + 16000 >= len(big)
            client.read_until(lambda: client.h2.local_flow_control_window(stream) >= 16100)  # the server's window
            client.send_frame(stream, Frame(Opcode.BINARY if start == 0 else Opcode.CONT, big[start:start + 16000],
                                            fin=last))
            if last:
                break
        client.read_until(lambda: sum(len(f.data) for f in _frames(client.data.get(stream, b""))) >= len(big), 10)
        assert b"".join(f.data for f in _frames(client.data[stream])) == big
        # The closing handshake, then END_STREAM (RFC 8441 §5: END_STREAM plays the TCP FIN).
        client.data[stream] = b""
        client.send_frame(stream, Frame(Opcode.CLOSE, Close(1000, "bye").serialize()))
        client.read_until(lambda: client.of("StreamEnded", stream))
        assert [f.opcode for f in _frames(client.data[stream])] == [Opcode.CLOSE]


def test_a_malformed_request_resets_its_stream_only(server, ca):
    with _tls(server, ca, ("h2",)) as sock:
        client = Client(sock)
        bad = client.connect(edit(remove=[":path"]))
        assert client.of("StreamReset", bad)[0].error_code == PROTOCOL_ERROR
        refused = client.connect(edit(**{":protocol": "wsgateway-bogus"}))
        assert dict(client.of("ResponseReceived", refused)[0].headers)[b":status"] == b"501"
        good = client.connect(VALID)  # the connection is still usable: a stream error, not GOAWAY
        assert dict(client.of("ResponseReceived", good)[0].headers)[b":status"] == b"200"
        assert not client.of("ConnectionTerminated")


def test_an_http11_client_gets_the_http11_server_unchanged(server, ca):
    with _tls(server, ca, ("http/1.1",)) as sock:
        assert sock.selected_alpn_protocol() == "http/1.1"
        sock.sendall(b"GET /websocket-test HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        head = sock.recv(4096)
        assert head.startswith(b"HTTP/1.1 101 ") and b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head


def test_h2c_with_prior_knowledge_only_when_asked(server):
    with socket.create_connection(server.address("ws"), timeout=5) as sock:
        client = Client(sock)
        client.read_until(lambda: client.of("RemoteSettingsChanged"))
        stream = client.connect([(n, "http" if n == ":scheme" else v) for n, v in VALID])
        assert dict(client.of("ResponseReceived", stream)[0].headers)[b":status"] == b"200"
    with ReferenceServer(ServerConfig(schemes=("ws",))) as plain:  # h2c off (the default)
        with socket.create_connection(plain.address("ws"), timeout=5) as sock:
            sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 505 ")


def test_a_peer_that_never_opens_its_window_gets_its_stream_reset_not_unbounded_buffering():
    """In memory (sans-I/O both sides): the client's INITIAL_WINDOW_SIZE is 0, so no echo can leave;
    once more than ``max_pending`` bytes wait, the server resets the stream (ENHANCE_YOUR_CALM)."""
    import h2.config
    import h2.connection
    import h2.events
    import h2.settings

    from pytest_wsgateway.reference_server import faults
    from pytest_wsgateway.reference_server.http2 import ENHANCE_YOUR_CALM, H2ServerConnection

    server = H2ServerConnection(route_ok=(ROUTE,), fault=faults.STRICT, max_message_size=1000)
    client = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, header_encoding=None))
    client.local_settings = h2.settings.Settings(client=True, initial_values={
        h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0, h2.settings.SettingCodes.ENABLE_PUSH: 0})
    client.initiate_connection()
    events = []

    def exchange():
        server.receive_data(client.data_to_send())
        events.extend(client.receive_data(server.data_to_send()))

    exchange()
    client.send_headers(1, [(n.encode(), v.encode()) for n, v in VALID])
    exchange()
    assert any(isinstance(e, h2.events.ResponseReceived) for e in events)
    for _ in range(80):  # 80 echoes of 1000 bytes: more than 4 * 1000 + 65536 in all
        if any(isinstance(e, h2.events.StreamReset) for e in events):
            break
        client.send_data(1, Frame(Opcode.BINARY, b"x" * 1000).serialize(mask=True, extensions=[]))
        exchange()
    resets = [e for e in events if isinstance(e, h2.events.StreamReset)]
    assert resets and resets[0].error_code == ENHANCE_YOUR_CALM
    assert 1 not in server.tunnels
