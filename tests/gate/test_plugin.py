"""The plugin as users meet it: options, usage errors, ids, markers, JUnit properties, entry points."""

import re
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pytest_wsgateway.cases import load_catalogue

SUITE = ("--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider")


def run(pytester, *args):
    return pytester.runpytest_subprocess(*SUITE, *args, timeout=120)


@pytest.mark.parametrize(("args", "line"), [
    (["--gateway-url=http://gw.example/ws"], "ERROR: --gateway-url 'http://gw.example/ws': the scheme must be ws:// or wss://, not 'http'"),
    (["--gateway-url=wss://gw.example/ws", "--gateway-ca=/no/such/ca.pem"], "ERROR: --gateway-ca /no/such/ca.pem: no such file"),
    (["--gateway-url=ws://gw.example/ws", "--gateway-timeout=soon"], "ERROR: --gateway-timeout 'soon': expected a number of seconds above 0 (at most 3600)"),
    (["--gateway-url=ws://gw.example/ws", "--gateway-header=no colon s3cr3t"], "ERROR: --gateway-header: expected 'Name: value' (the text is not shown: it may hold a secret)"),
    (["--gateway-url=ws://gw.example/ws", "--gateway-header=Bad Name: s3cr3t"], "ERROR: --gateway-header: 'Bad…' is not 'Name: value' (the text is not shown: it may hold a secret)"),
    (["--gateway-url=ws://gw.example/ws", "--gateway-api=/no/such/api.yaml"], "ERROR: --gateway-api /no/such/api.yaml: No such file or directory"),
    (["--gateway-url=ws://gw.example/ws", "--gateway-http2=yes"], "ERROR: --gateway-http2 'yes': expected one of off, auto, on"),
])
def test_bad_option_values_are_one_readable_usage_error(pytester, args, line):
    result = run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.stderr.lines[0] == line
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_unreachable_host_ends_every_case_inconclusive_with_the_cause_said_once(pytester):
    with socket.socket() as sock:  # bound, never listening: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        result = run(pytester, f"--gateway-url=ws://127.0.0.1:{port}/ws", "-k", "accept- or reject-key-missing", "-q")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the gate cannot say "passed"
    out = result.stdout.str()
    assert "Traceback" not in out and "INTERNALERROR" not in out
    assert "passed" not in result.stdout.lines[-1] and "failed" not in result.stdout.lines[-1]
    count = int(re.search(r"(\d+) inconclusive", result.stdout.lines[-1]).group(1))
    assert count >= 8  # 6 accept- cases, reject-key-missing and its siblings
    causes = [line for line in result.stdout.lines if "inconclusive: not run" in line]
    assert causes == [f"ws-127.0.0.1:{port}-ws: {count} case(s) inconclusive: not run: the target cannot be reached: cannot "
                      f"connect to 127.0.0.1:{port}: Connection refused -- check the host and port, and that the "
                      f"gateway listens there"]


def test_ids_are_case_at_target_stable_and_scheme_aware(pytester):
    args = ("--gateway-url=ws://gw.invalid:8080/ws", "--gateway-url=wss://gw.invalid/ws", "--collect-only", "-q")
    first, second = run(pytester, *args), run(pytester, *args)
    ids = [line for line in first.stdout.lines if "::test_conformance[" in line]
    assert ids == [line for line in second.stdout.lines if "::test_conformance[" in line]
    params = {line.split("[", 1)[1].rstrip("]") for line in ids}
    cases = [c for c in load_catalogue() if c.transport == "http/1.1"]  # HTTP/2: --gateway-http2 (below)
    expected = {f"{c.id}@ws-gw.invalid:8080-ws" for c in cases if "ws" in c.schemes}
    expected |= {f"{c.id}@wss-gw.invalid-ws" for c in cases if "wss" in c.schemes}
    assert params == expected


@pytest.mark.parametrize("mode", ["auto", "on"])
def test_gateway_http2_adds_the_h2_family(pytester, mode):
    args = ("--gateway-url=ws://gw.invalid:8080/ws", "--gateway-url=wss://gw.invalid/ws", f"--gateway-http2={mode}",
            "--collect-only", "-q")
    params = {line.split("[", 1)[1].rstrip("]") for line in run(pytester, *args).stdout.lines
              if "::test_conformance[h2-" in line}
    h2 = [c for c in load_catalogue() if c.transport == "h2"]
    assert h2 and all(c.id.startswith("h2-") for c in h2)
    expected = {f"{c.id}@wss-gw.invalid-ws" for c in h2}  # auto: wss:// only (ALPN h2)
    if mode == "on":  # ws:// too, as h2c with prior knowledge
        expected |= {f"{c.id}@ws-gw.invalid:8080-ws" for c in h2}
    assert params == expected


@pytest.mark.parametrize(("selection", "canary"), [
    ("accept-rfc-vector", "one canary (the valid upgrade) per target"),
    ("h2-extended-connect-accepted", "one canary (the valid extended CONNECT over HTTP/2) per target"),
    ("accept-rfc-vector or h2-extended-connect-accepted",
     "one canary per target and protocol (the valid upgrade; over HTTP/2 the valid extended CONNECT)"),
])
def test_the_request_count_names_the_canary_each_protocol_sends(pytester, selection, canary):
    h2 = "h2-extended-connect-accepted"
    assert any(c.id == h2 for c in load_catalogue())
    result = run(pytester, "--collect-only", "-q", "-k", selection)
    items = [line.split("[", 1)[1].rstrip("]") for line in result.stdout.lines if "::test_conformance[" in line]
    cases = len(items)  # the embedded run: HTTP/1.1 cases on ws:// and wss://, HTTP/2 ones on wss:// (ALPN h2)
    canaries = len({(item.split("@")[1], item.startswith("h2-")) for item in items})  # per target and protocol
    assert cases >= 1 and canaries >= 1
    result.stdout.fnmatch_lines([f"wsgateway: this run sends about {cases + canaries} handshake requests: "
                                 f"{cases} cases and {canary}, plus retries after rate limits"])


def test_report_header_shows_targets_and_tls_mode(pytester):
    result = run(pytester, "--gateway-url=wss://gw.invalid/ws", "--gateway-insecure", "--collect-only")
    result.stdout.fnmatch_lines(["wsgateway: 1 target(s): wss://gw.invalid/ws",
                                 "wsgateway: TLS certificates NOT verified (--gateway-insecure)"])


@pytest.mark.parametrize("level", ["must", "should", "interop"])
def test_levels_are_registered_markers(pytester, level):
    result = run(pytester, "--gateway-url=ws://gw.invalid/ws", "-m", level, "--collect-only", "-q", "--strict-markers")
    expected = sum(1 for c in load_catalogue() if c.level == level and "ws" in c.schemes and c.transport == "http/1.1")
    assert f"{expected}/" in result.stdout.str().splitlines()[-1]


def test_url_from_environment_and_ini(pytester, monkeypatch):
    monkeypatch.setenv("WSGATEWAY_URL", "ws://from-env.invalid/ws")
    result = run(pytester, "--collect-only", "-q", "-k", "accept-rfc-vector")
    result.stdout.fnmatch_lines(["*accept-rfc-vector@ws-from-env.invalid-ws*"])
    monkeypatch.delenv("WSGATEWAY_URL")
    pytester.makeini("[pytest]\nwsgateway_url = ws://from-ini.invalid/ws\n")
    result = run(pytester, "--collect-only", "-q", "-k", "accept-rfc-vector")
    result.stdout.fnmatch_lines(["*accept-rfc-vector@ws-from-ini.invalid-ws*"])
    result = run(pytester, "--gateway-url=ws://from-cli.invalid/ws", "--collect-only", "-q", "-k", "accept-rfc-vector")
    result.stdout.fnmatch_lines(["*accept-rfc-vector@ws-from-cli.invalid-ws*"])


def test_junit_xml_carries_case_id_rfc_section_and_level(pytester):
    result = run(pytester, "-k", "accept-rfc-vector or reject-version-99", "--junitxml=out.xml")
    assert result.ret == 0
    cases = ET.parse(pytester.path / "out.xml").getroot().iter("testcase")
    seen = {}
    for case in cases:
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        seen[(props["wsgateway_case"], props["wsgateway_target"])] = props
    assert seen[("accept-rfc-vector", "reference-wss")]["wsgateway_rfc"] == "RFC 6455 §1.3"
    assert seen[("reject-version-99-version-advertised", "reference-ws")]["wsgateway_level"] == "must"
    assert len(seen) == 2 * 4  # accept-rfc-vector, reject-version-99 and its two siblings; ws and wss


def test_embedded_target_line_and_both_schemes(pytester):
    result = run(pytester, "-k", "upgrade-status-101", "-v")
    result.stdout.fnmatch_lines(["wsgateway: target: the embedded reference server*",
                                 "*upgrade-status-101@reference-ws* PASSED*",
                                 "*upgrade-status-101@reference-wss* PASSED*"])


def test_console_script_runs_the_suite_from_an_empty_directory(tmp_path):
    script = Path(sys.executable).with_name("wsgateway-conformance")
    result = subprocess.run([str(script), "-k", "upgrade-status-101", "-q", "-p", "no:cacheprovider"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert "warning" not in result.stdout  # e.g. pytest's "Module already imported so cannot be rewritten"


def test_console_script_reruns_a_test_by_the_id_it_printed(tmp_path):
    """The ids in its output (FAILED test_conformance.py::test_conformance[...]) name one test to
    run again; before, that id was "module or package not found", and the installed file's path
    ran all the suite's tests besides."""
    script = Path(sys.executable).with_name("wsgateway-conformance")
    first = subprocess.run([str(script), "-q", "-p", "no:cacheprovider", "-rA", "-k", "accept-rfc-vector"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    printed = sorted(line.split()[1] for line in first.stdout.splitlines() if line.startswith("PASSED "))
    assert printed == ["test_conformance.py::test_conformance[accept-rfc-vector@reference-ws]",
                       "test_conformance.py::test_conformance[accept-rfc-vector@reference-wss]"], first.stdout
    again = subprocess.run([str(script), printed[1], "-q", "-p", "no:cacheprovider"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and again.stdout.strip().splitlines()[-1].startswith("1 passed"), again.stdout
    # and as `pytest conformance` prints it in a checkout of the project
    checkout = Path(__file__).resolve().parents[2]
    assert (checkout / "conformance" / "test_conformance.py").is_file()
    from_checkout = subprocess.run([str(script), f"conformance/{printed[0]}", "-q", "-p", "no:cacheprovider"],
                                   cwd=checkout, capture_output=True, text=True, timeout=120)
    assert from_checkout.returncode == 0, from_checkout.stdout + from_checkout.stderr
    assert from_checkout.stdout.strip().splitlines()[-1].startswith("1 passed"), from_checkout.stdout


def test_console_script_turns_urls_into_gateway_url():
    from pytest_wsgateway.conformance_cli import build_args

    assert build_args(["wss://gw/ws", "-m", "must"]) == [
        "--gateway-url=wss://gw/ws", "-m", "must", "--pyargs", "pytest_wsgateway.conformance"]


def test_plugin_can_be_disabled_and_loads_nothing_heavy():
    code = ("import sys, pytest_wsgateway.plugin; "
            "heavy = {'yaml', 'trustme', 'websockets', 'ssl', 'pytest_wsgateway.http1', 'h2', 'hpack', "
            "'pytest_wsgateway.http2'} & set(sys.modules); "
            "print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "[]"


def test_disabled_plugin_has_no_options(pytester):
    result = pytester.runpytest_subprocess("-p", "no:wsgateway", "--gateway-url=ws://x/", timeout=60)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: --gateway-url" in result.stderr.str()


def _script() -> str:
    return str(Path(sys.executable).with_name("wsgateway-conformance"))


def test_console_script_turns_url_looking_arguments_into_gateway_url():
    from pytest_wsgateway.conformance_cli import build_args

    args = build_args(["http://gw/ws", "HTTPS://gw/ws", "gw.example:8443", "gw.example:8443/ws", "[::1]:8080",
                       "-k", "host:1", "-p", "no:cacheprovider", "tests/x.py::test_a", "C:\\x", "report.md"])
    assert args[:5] == ["--gateway-url=http://gw/ws", "--gateway-url=HTTPS://gw/ws", "--gateway-url=gw.example:8443",
                        "--gateway-url=gw.example:8443/ws", "--gateway-url=[::1]:8080"]
    assert args[5:] == ["-k", "host:1", "-p", "no:cacheprovider", "tests/x.py::test_a", "C:\\x", "report.md",
                        "--pyargs", "pytest_wsgateway.conformance"]


def test_console_script_joins_every_gateway_option_with_its_value():
    from pytest_wsgateway.conformance_cli import build_args
    from pytest_wsgateway.options import OPTIONS

    assert build_args(["wss://gw/ws", "--gateway-ca", "/p/proj/ca.pem", "--gateway-header", "X-A: 1 2",
                       "--gateway-echo", "--gateway-timeout", "3", "--gateway-url", "ws://gw:81/"]) == [
        "--gateway-url=wss://gw/ws", "--gateway-ca=/p/proj/ca.pem", "--gateway-header=X-A: 1 2", "--gateway-echo",
        "--gateway-timeout=3", "--gateway-url=ws://gw:81/", "--pyargs", "pytest_wsgateway.conformance"]
    for name, metavar, _, _ in OPTIONS:
        flag = f"--gateway-{name.replace('_', '-')}"
        expected = [flag] if metavar is None else [f"{flag}=v a l"]
        assert build_args([flag, "v a l"])[:len(expected)] == expected


@pytest.mark.parametrize(("arg", "line"), [
    ("http://gw.invalid/ws", "ERROR: --gateway-url 'http://gw.invalid/ws': the scheme must be ws:// or wss://, not 'http'"),
    ("https://gw.invalid/ws",
     "ERROR: --gateway-url 'https://gw.invalid/ws': the scheme must be ws:// or wss://, not 'https'"),
    ("gw.invalid:8443", "ERROR: --gateway-url 'gw.invalid:8443': the scheme must be ws:// or wss://, not missing "
                        "(e.g. wss://gw.invalid:8443)"),
])
def test_console_script_says_why_a_url_is_not_a_websocket_url(tmp_path, arg, line):
    result = subprocess.run([_script(), arg, "-p", "no:cacheprovider"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, result.stdout + result.stderr
    assert result.stderr.splitlines()[0] == line
    assert "not found" not in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("where", ["inside", "beside"])
def test_console_script_ignores_a_foreign_projects_config(tmp_path, where):
    import trustme

    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\naddopts = "--cov=myapp -x"\n')
    (project / "conftest.py").write_text("raise RuntimeError('a foreign conftest.py was loaded')\n")
    trustme.CA().cert_pem.write_to_path(str(project / "ca.pem"))
    cwd, ca = (project, str(project / "ca.pem")) if where == "inside" else (tmp_path, str(project / "ca.pem"))
    result = subprocess.run([_script(), "wss://gw.invalid/ws", "--gateway-ca", ca, "--collect-only", "-q",
                             "-k", "upgrade-status-101"], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "upgrade-status-101@wss-gw.invalid-ws" in result.stdout
    assert "1/" in result.stdout.splitlines()[-1]


def test_pyargs_still_runs_from_inside_a_project(pytester):
    pytester.makepyprojecttoml('[tool.pytest.ini_options]\naddopts = "-ra"\n')
    result = pytester.runpytest_subprocess("--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider",
                                           "--collect-only", "-q", "-k", "upgrade-status-101", timeout=120)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*upgrade-status-101@reference-ws*"])


def test_console_script_pins_the_suites_config_unless_the_user_chooses_one(tmp_path):
    from pytest_wsgateway.conformance_cli import pinned_config

    pinned = pinned_config(["-q"], cwd=str(tmp_path))
    # one word (--config-file=PATH, not -c PATH): xdist's remote workers refuse a separate path argument
    assert pinned[0].startswith("--config-file=")
    config_file = Path(pinned[0].removeprefix("--config-file="))
    assert config_file.name == "suite.ini" and config_file.is_file()
    assert pinned[1:] == [f"--rootdir={tmp_path}", "--noconftest"]
    assert pinned_config(["-c", "my.ini", "--rootdir=.", "--confcutdir=x"], cwd=str(tmp_path)) == []
    assert pinned_config(["--config-file=my.ini", "--noconftest"], cwd=str(tmp_path)) == [f"--rootdir={tmp_path}"]


def _refused_url() -> tuple[socket.socket, str]:
    sock = socket.socket()  # bound, never listening: connections are refused
    sock.bind(("127.0.0.1", 0))
    return sock, f"ws://127.0.0.1:{sock.getsockname()[1]}/ws"


@pytest.mark.parametrize(("family", "extra"), [
    ("xunit2", []),
    ("xunit1", []),
    ("xunit2", ["-n", "2"]),
    # the package below the rootdir, as a venv inside a project is: the node id is a file path
    ("xunit2", [f"--rootdir={Path(__file__).resolve().parents[3]}"]),
], ids=["xunit2", "xunit1", "xunit2-xdist", "xunit2-rootdir-above-the-package"])
def test_junit_xml_under_w_error_every_family_properties_and_a_stable_classname(pytester, family, extra):
    # Inconclusive cases record properties while they run (wsgateway_inconclusive): pytest's
    # record_property fixture would warn under xunit2, an error under -W error.
    sock, url = _refused_url()
    with sock:
        result = run(pytester, f"--gateway-url={url}", "-k", "accept-rfc-vector or reject-key-missing", "-W", "error",
                     "--junitxml=out.xml", "-o", f"junit_family={family}", *extra)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # inconclusive, not errors
    out = result.stdout.str() + result.stderr.str()
    assert "Warning" not in out and "error" not in result.stdout.lines[-1], out
    cases = list(ET.parse(pytester.path / "out.xml").getroot().iter("testcase"))
    assert len(cases) == 5  # accept-rfc-vector; reject-key-missing, -missing-padding and their -clean-error siblings
    for case in cases:
        assert case.get("classname") == "pytest_wsgateway.conformance.test_conformance"
        assert case.get("name").startswith("test_conformance[")
        assert case.find("failure") is not None and case.find("error") is None
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        assert {"wsgateway_case", "wsgateway_rfc", "wsgateway_level", "wsgateway_target", "wsgateway_title",
                "wsgateway_inconclusive", "wsgateway_cause"} <= set(props)
        assert props["wsgateway_inconclusive"].startswith("not run: the target cannot be reached")


def test_report_header_names_the_plugin_and_its_version(pytester):
    from pytest_wsgateway import __version__

    line = f"wsgateway: pytest-wsgateway {__version__}"
    with_url = run(pytester, "--gateway-url=wss://gw.invalid/ws", "--collect-only")
    with_url.stdout.fnmatch_lines([line, "wsgateway: 1 target(s): wss://gw.invalid/ws"])
    embedded = run(pytester, "--collect-only", "-k", "upgrade-status-101")  # no URL: the embedded server
    embedded.stdout.fnmatch_lines([line])
    assert with_url.stdout.lines.count(line) == embedded.stdout.lines.count(line) == 1
    # pytest's own version output lists the plugin with its version (-VV)
    versions = pytester.runpytest_subprocess("-VV", timeout=60)
    assert f"pytest-wsgateway-{__version__} at " in versions.stdout.str() + versions.stderr.str()


def test_the_tls_line_only_when_a_target_is_wss(pytester):
    plain = run(pytester, "--gateway-url=ws://gw.invalid/ws", "--collect-only")
    plain.stdout.fnmatch_lines(["wsgateway: 1 target(s): ws://gw.invalid/ws"])
    assert [line for line in plain.stdout.lines if line.startswith("wsgateway: TLS")] == []
    mixed = run(pytester, "--gateway-url=ws://gw.invalid/ws", "--gateway-url=wss://gw.invalid/ws", "--collect-only")
    mixed.stdout.fnmatch_lines(["wsgateway: 2 target(s): ws://gw.invalid/ws, wss://gw.invalid/ws",
                                "wsgateway: TLS verified against the system trust store"])
