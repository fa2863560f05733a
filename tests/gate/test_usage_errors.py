"""Every bad input is one readable line and exit status 4, found before any case runs, never a traceback.

Each test here runs the suite in a subprocess (as a user or a CI job does) and reads its first
stderr line. Values of headers are secrets: no message shows them.
"""

from __future__ import annotations

import pytest
import trustme

from tests.gate._helpers import SUITE, faulty_server
from tests.harness import alias_bomb

SECRET = "TOPSECRET-4f1c9e"
WS = "--gateway-url=ws://gw.invalid/ws"
WSS = "--gateway-url=wss://gw.invalid/ws"


def run(pytester, *args):
    return pytester.runpytest_subprocess(*SUITE, *args, timeout=120)


def assert_usage_error(result, line: str, *, prefix: bool = False) -> None:
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, out
    first = result.stderr.lines[0] if result.stderr.lines else ""
    assert (first.startswith(line) if prefix else first == line), out
    assert "Traceback" not in out and "INTERNALERROR" not in out
    assert "passed" not in out and "failed" not in out  # no case ran
    assert SECRET not in out


# -- 1. report and baseline paths ------------------------------------------------------------------


@pytest.mark.parametrize("option", ["--gateway-report", "--gateway-write-baseline"])
@pytest.mark.parametrize("where", ["file-as-folder", "dev-null"])
def test_an_unwritable_report_or_baseline_path_is_refused_before_any_case_runs(pytester, option, where):
    name = "x.json" if option == "--gateway-report" else "known.yaml"
    if where == "file-as-folder":
        (pytester.path / "ws.out").write_text("a file, not a folder\n")
        path, folder, problem = f"ws.out/{name}", "ws.out", "is not a folder"
    else:
        path, folder, problem = f"/dev/null/{name}", "/dev/null", "is not a folder"
    result = run(pytester, "-k", "upgrade-status-101", f"{option}={path}")
    assert_usage_error(result, f"ERROR: {option} {path}: cannot write there: {folder} {problem}")


def test_a_missing_report_folder_is_created_at_configure_time(pytester):
    result = run(pytester, "--collect-only", "-q", "-k", "upgrade-status-101",
                 "--gateway-report=new/deeper/r.json", "--gateway-write-baseline=other/known.yaml")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert (pytester.path / "new" / "deeper").is_dir() and (pytester.path / "other").is_dir()


def test_a_report_that_cannot_be_written_at_the_end_is_one_line_and_a_failing_exit(pytester):
    # A plugin that turns the (by then existing) report folder into a file just before the
    # reports are written: the check at configure time passed, the write itself fails.
    pytester.makepyfile(breaker="""
        import os, shutil
        import pytest

        @pytest.hookimpl(tryfirst=True)
        def pytest_sessionfinish(session):
            shutil.rmtree("out")
            with open("out", "w") as handle:
                handle.write("now a file")
    """)
    result = run(pytester, "-p", "breaker", "-k", "upgrade-status-101", "--gateway-report=out/r.json",
                 "--gateway-report=ok.md", "--gateway-write-baseline=out/known.yaml")
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, out  # the cases passed, the gate's files were lost
    assert "Traceback" not in out and "INTERNALERROR" not in out
    assert "2 passed" in out
    result.stdout.fnmatch_lines([
        "wsgateway: cannot write the report out/r.json: out is not a folder",
        "wsgateway: report written to ok.md",
        "wsgateway: cannot write the baseline out/known.yaml: out is not a folder",
    ])
    assert (pytester.path / "ok.md").is_file()


# -- 2. the CA file ------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [WSS, WS])
@pytest.mark.parametrize(("content", "reason"), [
    ("not a certificate\n", "not a PEM CA certificate ("),
    ("", "not a PEM CA certificate ("),
    (None, "is a directory"),
])
def test_a_ca_file_that_is_not_a_pem_certificate_is_one_line(pytester, url, content, reason):
    if content is None:
        (pytester.path / "ca.pem").mkdir()
    else:
        (pytester.path / "ca.pem").write_text(content)
    result = run(pytester, url, "--gateway-ca=ca.pem")
    assert_usage_error(result, f"ERROR: --gateway-ca ca.pem: {reason}", prefix=True)
    assert len(result.stderr.lines[0]) < 200


def test_a_good_ca_file_is_accepted_for_ws_and_wss(pytester):
    trustme.CA().cert_pem.write_to_path(str(pytester.path / "ca.pem"))
    result = run(pytester, WSS, WS, "--gateway-ca=ca.pem", "--collect-only", "-q")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()


# -- 4. the environment ---------------------------------------------------------------------------


def test_a_header_from_the_environment_is_one_line_with_spaces(pytester, monkeypatch):
    monkeypatch.setenv("WSGATEWAY_HEADER", "X-IBM-Client-Id: abc123\nX-Trace: two words")
    with faulty_server(fault=False) as server:
        monkeypatch.setenv("WSGATEWAY_URL", f"{server.url}  {server.url}?second=1")
        result = run(pytester, "-k", "upgrade-status-101")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert "2 passed" in result.stdout.str()  # two URLs from one variable (split on whitespace)
    assert server.seen
    for headers in server.seen:
        assert ("X-IBM-Client-Id", "abc123") in headers and ("X-Trace", "two words") in headers


@pytest.mark.parametrize(("variable", "value", "line"), [
    ("WSGATEWAY_TIMEOUT", "abc", "ERROR: WSGATEWAY_TIMEOUT 'abc': expected a number of seconds above 0 (at most 3600)"),
    ("WSGATEWAY_RATE", "-1", "ERROR: WSGATEWAY_RATE '-1': expected a number of requests per second from 1/3600 (one an hour) to 100000"),
    # these overflowed the pacing clock: an OverflowError traceback in every case, each a FAILED verdict
    ("WSGATEWAY_RATE", "1e-300",
     "ERROR: WSGATEWAY_RATE '1e-300': expected a number of requests per second from 1/3600 (one an hour) to 100000"),
    ("WSGATEWAY_RETRY_BUDGET", "1e308",
     "ERROR: WSGATEWAY_RETRY_BUDGET '1e308': expected a number of seconds, 0 or more (at most 86400)"),
    ("WSGATEWAY_URL", "http://gw.invalid/ws",
     "ERROR: WSGATEWAY_URL 'http://gw.invalid/ws': the scheme must be ws:// or wss://, not 'http'"),
    ("WSGATEWAY_CA", "/no/such/ca.pem", "ERROR: WSGATEWAY_CA /no/such/ca.pem: no such file"),
    ("WSGATEWAY_API", "/no/such/api.yaml", "ERROR: WSGATEWAY_API /no/such/api.yaml: No such file or directory"),
    ("WSGATEWAY_ORIGIN", "https://€.example", "ERROR: WSGATEWAY_ORIGIN 'https://€.example': an Origin is visible "
                                             "ASCII (RFC 6454 §6.2)"),
    ("WSGATEWAY_REPORT", "/dev/null/x.json",
     "ERROR: WSGATEWAY_REPORT /dev/null/x.json: cannot write there: /dev/null is not a folder"),
    ("WSGATEWAY_WRITE_BASELINE", "/dev/null/k.yaml",
     "ERROR: WSGATEWAY_WRITE_BASELINE /dev/null/k.yaml: cannot write there: /dev/null is not a folder"),
    ("WSGATEWAY_KNOWN_FAILURES", "/no/such/k.yaml", "ERROR: WSGATEWAY_KNOWN_FAILURES /no/such/k.yaml: no such file"),
    ("WSGATEWAY_SUBPROTOCOL", "chat b@d",
     "ERROR: WSGATEWAY_SUBPROTOCOL 'b@d': a subprotocol name is an HTTP token (RFC 6455 §4.1)"),
    ("WSGATEWAY_HEADER", f"no colon {SECRET}",
     "ERROR: WSGATEWAY_HEADER: expected 'Name: value' (the text is not shown: it may hold a secret)"),
    ("WSGATEWAY_HEADER_X_API_KEY", f"{SECRET}\x01",
     "ERROR: WSGATEWAY_HEADER_X_API_KEY 'X-API-KEY': the value must be visible ASCII or Latin-1 text "
     "(RFC 9110 §5.5; it holds a control character; the value is not shown)"),
])
def test_errors_from_the_environment_name_the_variable(pytester, monkeypatch, variable, value, line):
    monkeypatch.setenv(variable, value)
    result = run(pytester, *([] if variable == "WSGATEWAY_URL" else [WS]))
    assert_usage_error(result, line)


def test_errors_from_the_ini_file_name_the_key_and_file(pytester):
    pytester.makeini("[pytest]\nwsgateway_timeout = abc\n")
    result = run(pytester, WS)
    assert_usage_error(result, "ERROR: wsgateway_timeout (tox.ini) 'abc': expected a number of seconds above 0 (at most 3600)")


# -- 6. URLs and header values that cannot be sent -------------------------------------------------


@pytest.mark.parametrize(("url", "line"), [
    ("ws://gw.invalid/a b", "ERROR: --gateway-url 'ws://gw.invalid/a b': the path and query must be percent-encoded "
                            "(RFC 3986 §2.1): write ' ' as %20"),
    ("ws://gw.invalid/€", "ERROR: --gateway-url 'ws://gw.invalid/€': the path and query must be percent-encoded "
                          "(RFC 3986 §2.1): write '€' as %E2%82%AC"),
    ("ws://gw.invalid/ws?q=a\tb", "ERROR: --gateway-url 'ws://gw.invalid/ws?q=a\\tb': the path and query must be "
                                  "percent-encoded (RFC 3986 §2.1): write '\\t' as %09"),
    ("ws://127.0.0.1:0/", "ERROR: --gateway-url 'ws://127.0.0.1:0/': port 0 cannot be connected to; give the "
                          "gateway's port (1-65535)"),
    ("ws://127.0.0.1:65536/", "ERROR: --gateway-url 'ws://127.0.0.1:65536/' is not a valid URL: "
                              "Port out of range 0-65535"),
    ("ws://bücher.invalid/", "ERROR: --gateway-url 'ws://bücher.invalid/': the host name must be ASCII "
                             "(write its IDNA form, e.g. xn--bcher-kva.invalid)"),
])
def test_urls_that_cannot_be_sent_are_one_line(pytester, url, line):
    assert_usage_error(run(pytester, f"--gateway-url={url}"), line)


@pytest.mark.parametrize(("value", "problem"), [
    (f"{SECRET}€", "a character beyond Latin-1"),
    (f"{SECRET}\x7f", "a control character"),
    (f"{SECRET}\x1b[0m", "a control character"),
])
def test_header_values_that_cannot_be_sent_are_one_line_without_the_value(pytester, value, problem):
    result = run(pytester, WS, f"--gateway-header=X-Api-Key: {value}")
    assert_usage_error(result, f"ERROR: --gateway-header 'X-Api-Key': the value must be visible ASCII or Latin-1 "
                               f"text (RFC 9110 §5.5; it holds {problem}; the value is not shown)")


def test_an_origin_that_cannot_be_sent_is_one_line(pytester):
    result = run(pytester, WS, "--gateway-origin=https://bücher€.example")
    assert_usage_error(result, "ERROR: --gateway-origin 'https://bücher€.example': an Origin is visible ASCII "
                               "(RFC 6454 §6.2)")


# -- 7. a misplaced colon does not leak the secret --------------------------------------------------


@pytest.mark.parametrize(("text", "line"), [
    (f"X-Api-Key {SECRET}:xyz",
     "ERROR: --gateway-header: 'X-Api-Key…' is not 'Name: value' (the text is not shown: it may hold a secret)"),
    (f"X-Api-Key\t{SECRET}: xyz",
     "ERROR: --gateway-header: 'X-Api-Key…' is not 'Name: value' (the text is not shown: it may hold a secret)"),
    (f"X-Api-Key={SECRET}: xyz",
     "ERROR: --gateway-header: the text before the colon is not a header name (RFC 9110 §5.1 token; the text is "
     "not shown: it may hold a secret)"),
])
def test_a_header_typo_never_echoes_what_follows_a_space(pytester, text, line):
    assert_usage_error(run(pytester, WS, f"--gateway-header={text}"), line)


# -- 8. a YAML alias bomb in --gateway-api --------------------------------------------------------


BOMB = alias_bomb("basePath: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\npaths: {/ws: {}}\n")


def test_a_yaml_alias_bomb_in_the_api_definition_is_refused_at_once(pytester):
    (pytester.path / "bomb.yaml").write_text(BOMB)
    result = pytester.runpytest_subprocess(*SUITE, WS, "--gateway-api=bomb.yaml", timeout=30)
    assert_usage_error(result, "ERROR: --gateway-api bomb.yaml: YAML aliases (*name) are not accepted "
                               "(line 3, column 8)")


def test_an_api_definition_above_one_mib_is_refused(pytester):
    (pytester.path / "big.yaml").write_text('swagger: "2.0"\npaths: {/ws: {}}\n' + "#" * (1 << 20) + "\n")
    result = run(pytester, WS, "--gateway-api=big.yaml")
    assert_usage_error(result, "ERROR: --gateway-api big.yaml: larger than 1 MiB; not an API definition")


# -- options given alone, with no URL (the embedded run) ----------------------------------------------


@pytest.mark.parametrize(("args", "env", "line"), [
    (("--gateway-origin=héllo",), {}, "ERROR: --gateway-origin 'héllo': an Origin is visible ASCII (RFC 6454 §6.2)"),
    (("--gateway-browser", "--gateway-browser-path=/nonexistent/chrome"), {},
     "ERROR: --gateway-browser-path '/nonexistent/chrome': no Chromium there (a path to an executable, "
     "or a name on PATH)"),
    (("--gateway-vantage=a b",), {},  # was checked only with --gateway-report: exit 0 without one
     "ERROR: --gateway-vantage 'a b': a vantage name is 1 to 64 letters, digits, '.', '_', '@' or '-', starting "
     "with a letter or digit"),
    (("--gateway-known-failures=/",), {}, "ERROR: --gateway-known-failures /: is a directory"),  # was "no such file"
    (("--gateway-ca=/dev/zero",), {}, "ERROR: --gateway-ca /dev/zero: not a regular file"),  # was "no such file"
    ((), {"WSGATEWAY_BROWSER": "/nonexistent/chrome"},
     "ERROR: WSGATEWAY_BROWSER '/nonexistent/chrome': no Chromium there (a path to an executable, or a name on PATH)"),
])
def test_a_bad_option_given_without_a_url_is_one_line_too(pytester, monkeypatch, args, env, line):
    """Without --gateway-url these were checked only at collection: a traceback per test module
    and exit 2 (the origin), or a green run that skipped the browser probe it was asked for."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert_usage_error(run(pytester, "--collect-only", *args), line)
