"""``wsgateway-server`` as a user runs it: a subprocess, its printed lines, signals."""

from __future__ import annotations

import signal
import ssl
import sys

import pytest
from websockets.sync.client import connect

from tests.harness import alias_bomb
from tests.server._helpers import CliServer, run_cli

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def test_tls_serves_prints_url_ca_and_websocat_line_then_sigterm_exits_0(tmp_path):
    cli = CliServer(["--tls", "--port", "0"], cwd=str(tmp_path))
    try:
        fields = cli.wait_ready()
        [url] = fields["url"]
        [ca_file] = fields["ca-file"]
        assert url.startswith("wss://127.0.0.1:") and url.endswith("/websocket-test")
        assert fields["api"][0].startswith("websocket-test (")
        assert f"SSL_CERT_FILE={ca_file} websocat {url}" in fields["websocat"]
        assert f"websocat --insecure {url}" in fields["websocat"]
        ctx = ssl.create_default_context(cafile=ca_file)
        with connect(url, ssl=ctx, open_timeout=5) as ws:
            ws.send("cli")
            assert ws.recv(timeout=5) == "cli"
        returncode, stderr = cli.stop(signal.SIGTERM)
    finally:
        cli.kill()
    assert returncode == 0, stderr
    assert "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == [], "nothing written to the working directory"


def test_sigint_exits_0_and_ca_file_option(tmp_path):
    ca_path = tmp_path / "ca.pem"
    cli = CliServer(["--tls", "--ca-file", str(ca_path), "--scheme", "wss", "--subprotocol", "chat"],
                    cwd=str(tmp_path))
    try:
        fields = cli.wait_ready()
        assert fields["ca-file"] == [str(ca_path)]
        assert ca_path.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
        ctx = ssl.create_default_context(cafile=str(ca_path))
        with connect(fields["url"][0], ssl=ctx, subprotocols=["x", "chat"], open_timeout=5) as ws:
            assert ws.subprotocol == "chat"
        returncode, stderr = cli.stop(signal.SIGINT)
    finally:
        cli.kill()
    assert returncode == 0 and "Traceback" not in stderr
    assert ca_path.exists(), "a CA file the user asked for is kept"


def test_plain_ws_via_scheme_option(tmp_path):
    cli = CliServer(["--scheme", "ws", "--open-timeout", "2"], cwd=str(tmp_path))
    try:
        fields = cli.wait_ready()
        [url] = fields["url"]
        assert url.startswith("ws://127.0.0.1:")
        assert "ca-file" not in fields
        assert fields["websocat"] == [f"websocat {url}"]
        with connect(url, open_timeout=5) as ws:
            ws.send(b"bin")
            assert ws.recv(timeout=5) == b"bin"
        returncode, stderr = cli.stop()
    finally:
        cli.kill()
    assert returncode == 0 and "Traceback" not in stderr


def test_both_schemes_with_module_entry_point(tmp_path):
    cli = CliServer(
        ["--tls", "--scheme", "ws", "--scheme", "wss"],
        cwd=str(tmp_path),
        command=[sys.executable, "-m", "pytest_wsgateway.reference_server"],
    )
    try:
        fields = cli.wait_ready()
        urls = fields["url"]
        assert [u.split(":")[0] for u in urls] == ["wss", "ws"]
        returncode, stderr = cli.stop()
    finally:
        cli.kill()
    assert returncode == 0 and "Traceback" not in stderr


@pytest.mark.parametrize(
    "args, fragment",
    [
        ([], "add --tls"),  # the shipped API lists wss only
        (["--api", "missing.yaml", "--scheme", "ws"], "no such file"),
        (["--api", "bad.yaml", "--scheme", "ws"], "invalid YAML"),
        (["--api", "v3.yaml", "--scheme", "ws"], "not supported"),
        (["--scheme", "wss"], "add --tls"),
        (["--scheme", "ftp"], "invalid choice"),
        (["--port", "70000"], "port out of range"),
        (["--open-timeout", "-1", "--scheme", "ws"], "must be > 0"),
        (["--ca-file", "x.pem", "--scheme", "ws"], "--ca-file needs --tls"),
        (["--bogus"], "unrecognized arguments"),
        (["--scheme", "ws", "--subprotocol", "a b"], "'a b': a subprotocol name is an HTTP token"),  # was accepted
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, args, fragment):
    (tmp_path / "bad.yaml").write_text("swagger: '2.0'\npaths: [unclosed\n")
    (tmp_path / "v3.yaml").write_text("openapi: 3.0.0\npaths: {/: {}}\n")
    result = run_cli(args, cwd=str(tmp_path))
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("wsgateway-server: error: ") and fragment in lines[0], lines
    assert result.stdout == ""


def test_help_mentions_plain_ws(tmp_path):
    result = run_cli(["--help"], cwd=str(tmp_path))
    assert result.returncode == 0
    assert "--scheme ws" in result.stdout and "--tls" in result.stdout


# A YAML alias bomb: nine nested aliases, about 387 million strings once expanded.
BOMB = alias_bomb("info: {title: *h}\nbasePath: /ws\nschemes: [ws]\npaths: {/: {}}\n")


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("bomb.yaml", BOMB, "bomb.yaml: YAML aliases (*name) are not accepted (line 3, column 8)"),
        ("big.yaml", "swagger: '2.0'\nschemes: [ws]\npaths: {/: {}}\n" + "#" * (1 << 20) + "\n",
         "big.yaml: larger than 1 MiB; not an API definition"),
    ],
)
def test_an_api_alias_bomb_or_huge_file_is_one_line_at_once(tmp_path, name, content, fragment):
    (tmp_path / name).write_text(content)
    result = run_cli(["--api", name, "--scheme", "ws"], cwd=str(tmp_path), timeout=20)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert lines == [f"wsgateway-server: error: {fragment}"], result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("option", ["--open-timeout", "--fault-delay"])
@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "0", "-1", "1e400"])
def test_time_options_must_be_finite_and_positive(tmp_path, option, value):
    args = ["--scheme", "ws", f"{option}={value}"] + (["--fault", "delayed-101"] if option == "--fault-delay" else [])
    result = run_cli(args, cwd=str(tmp_path))
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("wsgateway-server: error: "), result.stderr
    assert f"argument {option}: must be > 0 and finite (seconds): {value!r}" in lines[0], lines


def test_h2c_option_takes_http2_with_prior_knowledge_on_ws(tmp_path):
    import socket
    from urllib.parse import urlsplit

    preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000")  # + an empty SETTINGS
    for args in (["--h2c"], []):
        cli = CliServer(["--scheme", "ws", *args], cwd=str(tmp_path))
        try:
            [url] = cli.wait_ready()["url"]
            parts = urlsplit(url)
            with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
                sock.sendall(preface)
                head = b""
                while len(head) < 12:
                    chunk = sock.recv(12 - len(head))
                    assert chunk, head
                    head += chunk
            # h2c: the server's first frame is its SETTINGS (type 0x4, flags 0); without --h2c: HTTP/1.1's 505
            assert (head[3:5] == b"\x04\x00") if args else head == b"HTTP/1.1 505", head
            returncode, stderr = cli.stop()
        finally:
            cli.kill()
        assert returncode == 0 and "Traceback" not in stderr
