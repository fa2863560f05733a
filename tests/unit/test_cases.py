"""The YAML case catalogue: loading, validation and request rendering."""

import re

import pytest

from pytest_wsgateway.cases import CatalogueError, RequestSpec, load_catalogue, load_file, render_request
from pytest_wsgateway.checks import CHECKS, UPGRADE_CHECKS
from pytest_wsgateway.handshake import parse_request


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


def test_at_least_60_cases_per_scheme(catalogue):
    for scheme in ("ws", "wss"):
        assert sum(scheme in case.schemes for case in catalogue) >= 60


def test_every_case_is_documented_and_well_formed(catalogue):
    for case in catalogue:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", case.id), case.id
        assert case.level in ("must", "should", "interop", "browser")
        assert re.match(r"(RFC \d+|OpenAPI 2\.0|WHATWG (Fetch|WebSockets)) §", case.rfc), case.id
        assert len(case.quote) > 20 and case.title
        assert case.expect and all(name in CHECKS for name, _ in case.expect)


def test_every_check_is_used_by_some_case(catalogue):
    used = {name for case in catalogue for name, _ in case.expect} | set(UPGRADE_CHECKS)
    assert set(CHECKS) <= used


def test_each_invalid_request_has_a_clean_error_sibling(catalogue):
    ids = {case.id for case in catalogue}
    for case in catalogue:
        if case.id.startswith("reject-") and not case.id.endswith(("-clean-error", "-version-advertised",
                                                                    "-allow-on-405", "-upgrade-on-426")):
            assert f"{case.id}-clean-error" in ids


def test_fixed_keys_render_and_fresh_keys_change():
    spec = RequestSpec()
    first, key1 = render_request(spec, host="h", resource="/r", path="/r", secure=False)
    second, key2 = render_request(spec, host="h", resource="/r", path="/r", secure=False)
    assert key1 != key2 and first != second
    fixed, key = render_request(RequestSpec(key="AQ=="), host="h", resource="/r", path="/r", secure=False)
    assert key == "AQ==" and b"Sec-WebSocket-Key: AQ==\r\n" in fixed


def test_request_edits_apply_in_documented_order():
    spec = RequestSpec(method="POST", target="{http}://{host}{resource}", remove=("Upgrade",),
                       set=(("connection", "keep-alive, Upgrade"), ("X-New", "{key}")),
                       add=(("Host", "second"),), header_case="upper", order="reversed")
    data, key = render_request(spec, host="gw:8443", resource="/r?q", path="/r", secure=True,
                               extra_headers=(("X-Client-Id", "id"),))
    request = parse_request(data)
    assert request.start == ("POST", "https://gw:8443/r?q", "HTTP/1.1")
    assert [name for name, _ in request.headers] == [
        "HOST", "X-NEW", "X-CLIENT-ID", "SEC-WEBSOCKET-VERSION", "SEC-WEBSOCKET-KEY", "CONNECTION", "HOST"]
    assert request.get("X-New") == key and request.get_all("Host") == ["second", "gw:8443"]
    assert request.get("Connection") == "keep-alive, Upgrade"


@pytest.mark.parametrize(("text", "message"), [
    ("cases: [{id: a, title: t, level: may, rfc: r, quote: q, expect: [status_101]}]", "level must be one of"),
    ("cases: [{id: a, title: t, level: must, rfc: r, quote: q, expect: [no_such_check]}]", "unknown check 'no_such_check'"),
    ("cases: [{id: a, title: t, level: must, rfc: r, quote: q, expect: [status_101], colour: red}]", "unknown keys ['colour']"),
    ("cases: [{id: a, title: t, level: must, rfc: r, expect: [status_101]}]", "missing ['quote']"),
    ("cases: [{id: a, title: t, level: must, rfc: r, quote: q, expect: [status_101], request: {verb: GET}}]", "unknown request keys"),
    ("cases: [{id: a, title: t, level: must, rfc: r, quote: q, expect: [status_101], after: [{dance: 1}]}]", "unknown after-101 step"),
    ("cases: [{id: a, title: t, level: must, rfc: r, quote: q, expect: [status_101], also: {x: {level: should}}}]", "needs level and expect"),
    ("nothing: here", "expected a mapping with a 'cases' list"),
    ("cases: [unclosed", "not valid YAML"),
])
def test_catalogue_errors_name_the_file_and_case(tmp_path, text, message):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(CatalogueError, match=re.escape(message)) as info:
        load_file(str(path))
    assert str(info.value).startswith("broken.yaml")


def test_duplicate_ids_across_files_are_an_error(tmp_path):
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / name).write_text("cases: [{id: same, title: t, level: must, rfc: r, quote: q, expect: [status_101]}]")
    with pytest.raises(CatalogueError, match="also used in a.yaml"):
        load_catalogue(str(tmp_path))


def test_also_siblings_get_suffixed_ids(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "cases: [{id: reject-x, title: X is refused, level: must, rfc: r, quote: q, expect: [not_upgraded],"
        " also: {clean-error: {level: should, expect: [clean_error]}}}]")
    first, second = load_catalogue(str(tmp_path))
    assert (first.id, second.id, second.level, second.expect) == ("reject-x", "reject-x-clean-error", "should",
                                                                 (("clean_error", {}),))
    assert second.request == first.request
