"""``wsgateway-server``: run the reference WebSocket echo server from a shell.

Examples::

    wsgateway-server --tls                 # wss:// with a throw-away CA (path printed)
    wsgateway-server --scheme ws           # plain ws:// for local testing
    wsgateway-server --tls --scheme ws --scheme wss --plain-port 8080 --port 8443
    wsgateway-server --api my-api.yaml --tls --subprotocol chat
    wsgateway-server --scheme ws --fault gatewayscript   # wrong on purpose (see --list-faults)

Output (stdout, one ``key: value`` per line, flushed before serving)::

    api: websocket-test (/path/to/default_api.yaml)
    url: wss://127.0.0.1:40123/websocket-test
    ca-file: /tmp/wsgateway-ca-XXXX/ca.pem
    websocat: SSL_CERT_FILE=/tmp/wsgateway-ca-XXXX/ca.pem websocat wss://127.0.0.1:40123/websocket-test
    websocat: websocat --insecure wss://127.0.0.1:40123/websocket-test
    ready: serving until Ctrl-C or SIGTERM

(one ``url:`` and ``websocat:`` line per listener; ``ca-file:`` only with
``--tls``; with ``--fault NAME`` a first line ``fault: NAME: <the mistake>``).
``--list-faults`` prints one ``NAME: <the mistake>`` line per profile and exits
0. Ctrl-C / SIGTERM stop it with exit status 0. Bad input (missing or invalid
API file, wss without ``--tls``, bad option) prints one line on stderr and
exits with status 2.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import NoReturn

from .api import DEFAULT_API_PATH, ApiDefinitionError, load_api_definition
from .certs import DEFAULT_IDENTITIES, issue_server_cert, make_ca, server_ssl_context, write_ca_pem
from .faults import FAULTS
from .http import _TOKEN_STR_RE
from .server import ReferenceServer, ServerConfig

PROG = "wsgateway-server"

EPILOG = """\
Which listeners run: by default the API definition's ws/wss schemes (the
shipped API, like an IBM API Connect WebSocket API, lists [https, wss], so it
needs --tls). For a plain ws:// listener in local testing pass --scheme ws
(or list ws in your API file). With both ws and wss, --port is the wss port
and --plain-port the ws port. The server speaks HTTP/1.1 and, on wss (ALPN h2,
then http/1.1; TLS >= 1.2), WebSockets over HTTP/2 (RFC 8441; --no-http2 to
offer http/1.1 only; --h2c for HTTP/2 with prior knowledge on ws), and echoes
every text and binary message.
"""


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _subprotocol(text: str) -> str:
    """A subprotocol name: an HTTP token (RFC 6455 §4.1, RFC 9110 §5.6.2)."""
    if not _TOKEN_STR_RE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r}: a subprotocol name is an HTTP token (RFC 6455 §4.1)")
    return text


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    # inf (or nan) would switch off the deadline that protects against slow clients (slowloris)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be > 0 and finite (seconds): {text!r}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port out of range: {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Reference RFC 6455 WebSocket echo server (the picture of a correct handshake).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=_port, default=0, help="port (0 = pick a free one; default 0)")
    parser.add_argument(
        "--plain-port",
        type=_port,
        default=0,
        help="ws:// port when both ws and wss run (--port is then the wss port; default 0)",
    )
    parser.add_argument(
        "--tls",
        action="store_true",
        help="serve wss:// with a throw-away trustme CA and certificate",
    )
    parser.add_argument(
        "--ca-file",
        metavar="PATH",
        help="with --tls: write the CA certificate (PEM) here (default: a temporary file)",
    )
    parser.add_argument(
        "--api",
        metavar="FILE",
        help=f"OpenAPI 2.0 (Swagger) YAML defining basePath/paths/schemes (default: {DEFAULT_API_PATH.name})",
    )
    parser.add_argument(
        "--scheme",
        action="append",
        choices=("ws", "wss"),
        help="listener scheme, repeatable; overrides the API's schemes (--scheme ws = plain ws://)",
    )
    parser.add_argument(
        "--subprotocol",
        action="append",
        type=_subprotocol,
        default=[],
        metavar="NAME",
        help="supported subprotocol, repeatable (the first one the client offers is chosen)",
    )
    parser.add_argument(
        "--permessage-deflate",
        action="store_true",
        help="negotiate permessage-deflate when offered (default: no extensions)",
    )
    parser.add_argument(
        "--no-http2",
        action="store_true",
        help="offer only http/1.1 in ALPN on wss (default: h2 then http/1.1; RFC 8441 over h2)",
    )
    parser.add_argument(
        "--h2c",
        action="store_true",
        help="also take HTTP/2 with prior knowledge (h2c) on the ws listener (default: HTTP/1.1 only there)",
    )
    parser.add_argument(
        "--open-timeout",
        type=_positive_float,
        default=10.0,
        metavar="SECONDS",
        help="deadline for the TLS handshake plus the request head (default 10)",
    )
    parser.add_argument(
        "--fault",
        choices=list(FAULTS),
        metavar="NAME",
        help="serve wrong on purpose, in one named way (a fault profile; see --list-faults)",
    )
    parser.add_argument(
        "--fault-delay",
        type=_positive_float,
        metavar="SECONDS",
        help="with --fault delayed-101: how long the 101 is held (default 6)",
    )
    parser.add_argument(
        "--list-faults",
        action="store_true",
        help="list the fault profiles (name: the mistake) and exit",
    )
    return parser


def _websocat_lines(url: str, ca_file: str | None) -> list[str]:
    if url.startswith("wss:") and ca_file is not None:
        return [f"SSL_CERT_FILE={ca_file} websocat {url}", f"websocat --insecure {url}"]
    return [f"websocat {url}"]


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list_faults:
        print("\n".join(f"{fault.name}: {fault.mistake}" for fault in FAULTS.values()), flush=True)
        return 0
    temp_dir: str | None = None
    try:
        try:
            api_path = Path(args.api) if args.api else DEFAULT_API_PATH
            api = load_api_definition(api_path)
            schemes = tuple(dict.fromkeys(args.scheme)) if args.scheme else api.websocket_schemes
            if "wss" in schemes and not args.tls:
                raise _UsageError(
                    f"the API {api.title!r} serves wss://: add --tls for a throw-away "
                    "certificate, or --scheme ws for a plain ws:// listener"
                )
            if args.ca_file and not args.tls:
                raise _UsageError("--ca-file needs --tls")
            fault = FAULTS[args.fault] if args.fault else None
            if args.fault_delay is not None:
                if fault is None or not fault.delay_101:
                    raise _UsageError("--fault-delay needs --fault delayed-101")
                fault = fault.with_delay(args.fault_delay)
            ssl_context = None
            ca_file: str | None = None
            if args.tls:
                if "wss" not in schemes and not args.scheme:
                    schemes = schemes + ("wss",)
                ca = make_ca()
                identities = list(DEFAULT_IDENTITIES)
                host = args.host.strip("[]")
                if host and host not in identities and host not in ("0.0.0.0", "::"):
                    identities.append(host)
                ssl_context = server_ssl_context(issue_server_cert(ca, identities))
                if args.ca_file:
                    ca_path = Path(args.ca_file).resolve()
                else:
                    temp_dir = tempfile.mkdtemp(prefix="wsgateway-ca-")
                    ca_path = Path(temp_dir) / "ca.pem"
                try:
                    write_ca_pem(ca, ca_path)
                except OSError as exc:
                    raise _UsageError(f"cannot write CA file {ca_path}: {exc.strerror or exc}") from None
                ca_file = str(ca_path)
            config = ServerConfig(
                host=args.host.strip("[]"),
                port=args.port,
                plain_port=args.plain_port,
                api=api,
                schemes=schemes,
                ssl_context=ssl_context,
                subprotocols=tuple(args.subprotocol),
                permessage_deflate=args.permessage_deflate,
                open_timeout=args.open_timeout,
                fault=fault,
                http2=not args.no_http2,
                h2c=args.h2c,
            )
            server = ReferenceServer(config)
            try:
                server.bind()
            except OSError as exc:
                raise _UsageError(f"cannot listen on {args.host}: {exc.strerror or exc}") from None
        except (_UsageError, ApiDefinitionError, ValueError) as exc:
            print(f"{PROG}: error: {exc}", file=sys.stderr, flush=True)
            return 2

        def ready(srv: ReferenceServer) -> None:
            lines = [f"fault: {fault.name}: {fault.mistake}"] if fault is not None else []
            lines.append(f"api: {api.title} ({api.source})")
            lines += [f"url: {url}" for url in srv.urls.values()]
            if ca_file is not None:
                lines.append(f"ca-file: {ca_file}")
            for url in srv.urls.values():
                lines += [f"websocat: {line}" for line in _websocat_lines(url, ca_file)]
            lines.append("ready: serving until Ctrl-C or SIGTERM")
            print("\n".join(lines), flush=True)

        try:
            asyncio.run(_serve_until_signal(server, ready))
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)


async def _serve_until_signal(server: ReferenceServer, ready) -> None:  # type: ignore[no-untyped-def]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(signum, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # pragma: no cover - Windows
            pass
    await server.run(stop=stop, ready=ready)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
