"""The fixtures as a user's own tests use them (pytester: a fresh project with the plugin loaded)."""

import socket

import pytest


def test_readme_example_wss_echo_and_trust(pytester):
    pytester.makepyfile(
        """
        import ssl
        import pytest
        import websockets.sync.client

        def test_echo_over_wss(wsgateway_server, wsgateway_client_ssl_context):
            with websockets.sync.client.connect(wsgateway_server.urls["wss"], ssl=wsgateway_client_ssl_context,
                                                open_timeout=5) as ws:
                ws.send("hi")
                assert ws.recv(timeout=5) == "hi"

        def test_plain_ws_listener_too(wsgateway_server):
            with websockets.sync.client.connect(wsgateway_server.urls["ws"], open_timeout=5) as ws:
                ws.send(b"\\x00\\x01")
                assert ws.recv(timeout=5) == b"\\x00\\x01"

        def test_default_trust_store_rejects_the_generated_ca(wsgateway_server):
            with pytest.raises(ssl.SSLCertVerificationError):
                websockets.sync.client.connect(wsgateway_server.urls["wss"], ssl=ssl.create_default_context(),
                                               open_timeout=5)

        def test_ca_pem_file_verifies(wsgateway_server, wsgateway_ca_pem):
            context = ssl.create_default_context(cafile=wsgateway_ca_pem)
            with websockets.sync.client.connect(wsgateway_server.urls["wss"], ssl=context, open_timeout=5) as ws:
                ws.ping().wait(5)
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=4)


def test_small_fixtures_can_be_overridden(pytester):
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def wsgateway_subprotocols():
            return ("superchat",)

        @pytest.fixture(scope="session")
        def wsgateway_listen_host():
            return "localhost"
        """
    )
    pytester.makepyfile(
        """
        import websockets.sync.client

        def test_overrides_reach_the_server(wsgateway_server, wsgateway_client_ssl_context):
            assert wsgateway_server.urls["wss"].startswith("wss://localhost:")
            with websockets.sync.client.connect(wsgateway_server.urls["wss"], ssl=wsgateway_client_ssl_context,
                                                subprotocols=["chat", "superchat"], open_timeout=5) as ws:
                assert ws.subprotocol == "superchat"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=1)


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6 on this machine")
def test_ipv6_listen_host(pytester):
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError as exc:
        pytest.skip(f"cannot bind ::1: {exc}")
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def wsgateway_listen_host():
            return "::1"
        """
    )
    pytester.makepyfile(
        """
        import websockets.sync.client

        def test_ipv6(wsgateway_server, wsgateway_client_ssl_context):
            assert wsgateway_server.urls["wss"].startswith("wss://[::1]:")
            with websockets.sync.client.connect(wsgateway_server.urls["wss"], ssl=wsgateway_client_ssl_context,
                                                open_timeout=5) as ws:
                ws.send("six")
                assert ws.recv(timeout=5) == "six"
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(passed=1)
