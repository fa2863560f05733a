"""The structure the architecture promises (docs/architecture.md): the pure layer opens no
sockets, the package has no import circle, and rendering hides secrets field by field."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "pytest_wsgateway"
#: The sans-I/O modules: bytes in, findings out.
PURE = ("handshake", "frames", "exchange", "checks", "cases", "targets", "targetsfile", "apitargets", "apidef",
        "redact", "levels", "settings", "verdicts")


def test_pure_modules_import_and_judge_without_socket_or_ssl():
    code = (
        "import sys\n"
        "sys.modules['socket'] = None; sys.modules['ssl'] = None; sys.modules['asyncio'] = None\n"
        + "".join(f"import pytest_wsgateway.{name}\n" for name in PURE)
        + "from pytest_wsgateway import cases, checks\n"
        "from pytest_wsgateway.exchange import Exchange\n"
        "from pytest_wsgateway.handshake import parse_response_head\n"
        "catalogue = cases.load_catalogue()\n"
        "case = next(c for c in catalogue if c.id == 'upgrade-status-101')\n"
        "request, _ = cases.render_request(case.request, host='h', resource='/', path='/', secure=False)\n"
        "head = b'HTTP/1.1 404 Not Found\\r\\n\\r\\n'\n"
        "ex = Exchange(request=request, response_head=head, response=parse_response_head(head))\n"
        "findings = checks.evaluate(case.expect, request, ex, checks.Context())\n"
        "assert findings and '404' in findings[0].actual, findings\n"
        "print('ok', len(catalogue))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")


def _imports(path: Path) -> set[str]:
    """The sibling modules ``path`` imports (``from . import x``, ``from .x import y``), anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


def test_the_package_has_no_import_circle():
    modules = {path.stem: path for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    graph = {name: _imports(path) & set(modules) for name, path in modules.items()}
    circles = []

    def visit(name: str, stack: list[str]) -> None:
        for child in sorted(graph[name]):
            if child in stack:
                circles.append(stack[stack.index(child):] + [child])
            elif len(stack) < len(graph):
                visit(child, stack + [child])

    for start in graph:
        visit(start, [start])
    assert not circles, f"import circles: {circles[:5]}"


def test_pure_modules_import_no_transport():
    for name in PURE:
        assert not _imports(PACKAGE / f"{name}.py") & {"http1", "transport", "runner", "executor", "plugin",
                                                       "fixtures", "options", "browser", "reports"}, name


def test_a_short_header_value_does_not_mangle_the_rendered_url():
    """A header value such as ``1`` is hidden where it is a header value, and nowhere else: the old
    global replace printed ``ws://<redacted>27.0.0.<redacted>:8765/``."""
    from pytest_wsgateway.cases import shipped_catalogue
    from pytest_wsgateway.checks import Finding
    from pytest_wsgateway.runner import Outcome, render
    from pytest_wsgateway.targets import parse_url

    target = parse_url("ws://127.0.0.1:8765/ws?v=1", headers=(("X-Debug", "1"), ("X-Api-Key", "tok-3f9a2c7e51d84b06")))
    case = next(c for c in shipped_catalogue() if c.id == "upgrade-status-101")
    outcome = Outcome(case, target, render(case, target), findings=[Finding("r", "101", "HTTP/1.1 401 (key tok-3f9a2c7e51d84b06)")])
    message = outcome.message()
    assert "target: ws://127.0.0.1:8765/ws?v=<redacted>" in message  # the value stands alone: hidden
    assert "Host: 127.0.0.1:8765" in message
    assert "X-Debug: <redacted>" in message and "X-Api-Key: <redacted>" in message
    assert "tok-3f9a2c7e51d84b06" not in message and "(key <redacted>)" in message


def test_credential_query_parameters_are_hidden_in_urls():
    from pytest_wsgateway.redact import Redactor

    shown = Redactor().url("wss://gw.example/org/cat/api?client_id=abc123&mode=x")
    assert shown == "wss://gw.example/org/cat/api?client_id=<redacted>&mode=x"
