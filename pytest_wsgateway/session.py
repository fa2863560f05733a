"""The work behind the plugin's hooks in a run that uses the suite (or its gate options).

:mod:`pytest_wsgateway.plugin` is imported by every pytest run where the package is installed, so
it keeps only the hooks; what they do when the suite is used lives here and is imported then:
the CI gate's set-up, masking ``--debug``'s log, the report redaction guard, the report header's
target lines, the items' JUnit properties and known failures, the executor's hand-over, the
request count and the end-of-run summary.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import os

import pytest

from . import options

BASELINE_KEY = pytest.StashKey[object]()


def configure_gate(config: pytest.Config, given: options.GatewayOptions) -> None:
    """Load the known failures (every process), register the report/baseline writer (controller only)."""
    previous = None
    if given.known_failures:
        from .baseline import BaselineError, load

        known_ids = {case.id for case in options.catalogue()}
        try:
            previous = config.stash[BASELINE_KEY] = load(given.known_failures, known_ids,
                                                         given.source("known_failures"))
        except BaselineError as exc:
            raise pytest.UsageError(str(exc)) from None
    if given.write_baseline and os.path.isdir(given.write_baseline):
        raise pytest.UsageError(f"{given.source('write_baseline')} {given.write_baseline}: is a directory")
    if hasattr(config, "workeroutput") and given.reports:  # where this worker runs (--dist each: a vantage)
        import platform

        config.workeroutput["wsgateway_host"] = platform.node()
    if not (given.reports or given.write_baseline) or hasattr(config, "workerinput"):
        return  # xdist workers send their reports to the controller, which writes the files
    from .reports import GateRecorder, check_report_path, check_writable
    from .targets import EMBEDDED_DESCRIPTIONS

    for path in given.reports:
        check_report_path(path, given.source("report"))
    if given.write_baseline:
        check_writable(given.write_baseline, given.source("write_baseline"))
    settings = options.settings(config)
    redactor = settings.redactor()
    targets = [(t.id, EMBEDDED_DESCRIPTIONS.get(t.id, "") if t.embedded else redactor.url(t.url))
               for t in settings.targets]
    recorder = GateRecorder(given.reports, given.write_baseline, targets, [case.id for case in options.catalogue()],
                            previous, vantage=vantage(given))
    recorder.each = getattr(config.option, "dist", None) == "each"  # pytest-xdist: every worker a vantage
    config.pluginmanager.register(recorder, "wsgateway-gate")


def vantage(given: options.GatewayOptions) -> str | None:
    """``--gateway-vantage``, checked (a usage error names the flag, variable or ini key)."""
    if not given.vantage:
        return None
    from .reportmerge import ReportError, check_label

    try:
        return check_label(given.vantage.strip(), given.source("vantage"))
    except ReportError as exc:
        raise pytest.UsageError(str(exc)) from None


def redact_debug_log(config: pytest.Config) -> None:
    """``--debug`` wrote the command line (a --gateway-header value with it) to its log before any
    plugin ran: mask the secrets there (same length, so pytest's open handle stays valid) and
    redact what is written from now on."""
    redactor = options.settings(config).redactor()
    if not redactor:
        return
    path = os.path.abspath(str(config.option.debug))
    root = config.trace.root
    writer = getattr(root, "_writer", None)
    handle_of_pytest = getattr(writer, "__self__", None)
    if handle_of_pytest is not None and hasattr(handle_of_pytest, "flush"):
        handle_of_pytest.flush()  # what pytest wrote so far is on disk, to be masked there
    try:
        with open(path, "r+b") as handle:
            data = handle.read()
            masked = data
            for secret in redactor.secrets:
                raw = secret.encode("utf-8")
                masked = masked.replace(raw, b"*" * len(raw))
            if masked != data:
                handle.seek(0)
                handle.write(masked)
    except OSError:
        return
    if writer is not None:
        root.setwriter(lambda text: writer(redactor.text(text)))


def redact_report(report: pytest.TestReport | pytest.CollectReport, redactor, rendered: str | None) -> None:
    """Hide every header value in what pytest prints or writes (terminal, JUnit, reports).

    The suite's own failure messages are redacted field by field as they are rendered (an item
    that rendered one sets ``rendered``, and its message is left as it is); this covers everything else -- tracebacks with
    ``-l``/``--tb=long``/``-vv``, assertion diffs, captured output -- of any test in the session.
    """
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        report.longrepr = (longrepr[0], longrepr[1], redactor.text(str(longrepr[2])))
    elif longrepr is not None and rendered is None:
        text = str(longrepr)
        redacted = redactor.text(text)
        if redacted != text:
            report.longrepr = redacted
    report.sections = [(title, redactor.text(content)) for title, content in report.sections]
    if getattr(report, "wasxfail", None):
        report.wasxfail = redactor.text(report.wasxfail)
    if getattr(report, "user_properties", None):  # JUnit properties, the reports' fields
        report.user_properties = [(name, redactor.text(value) if isinstance(value, str) else value)
                                  for name, value in report.user_properties]


def target_lines(config: pytest.Config, given: options.GatewayOptions) -> list[str]:
    """The header's lines about ``--gateway-url`` / ``--gateway-targets`` targets and how their
    certificates are checked (one line, or one per way when the targets of a file differ)."""
    settings = options.settings(config)
    urls = [settings.redactor().url(target.url) for target in settings.targets]
    lines = [f"wsgateway: {len(urls)} target(s): {', '.join(urls)}"]
    trusts: dict[str, list[str]] = {}
    for target in settings.targets:
        if target.scheme == "wss":
            if target.insecure:
                how = "TLS certificates NOT verified" + (" (--gateway-insecure)" if given.insecure else "")
            elif target.ca_file:
                how = f"TLS verified against {target.ca_file}"
            else:
                how = "TLS verified against the system trust store"
            trusts.setdefault(how, []).append(target.id)
    if len(trusts) == 1:
        lines.append(f"wsgateway: {next(iter(trusts))}")
    else:
        lines += [f"wsgateway: {how}: {', '.join(ids)}" for how, ids in trusts.items()]
    return lines


def label_items(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The JUnit/report properties of each conformance item, and its known failure (a strict xfail)."""
    known = config.stash.get(BASELINE_KEY, None)
    for item in items:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("wsgateway_case") if callspec else None
        if case is not None and hasattr(case, "rfc"):
            from .cases import title_for

            target = callspec.params["wsgateway_target"]
            subprotocols = options.settings(config).target(target).subprotocols
            item.user_properties.extend([
                ("wsgateway_case", case.id),
                ("wsgateway_level", case.level),
                ("wsgateway_rfc", case.rfc),
                ("wsgateway_target", target),
                ("wsgateway_title", title_for(case, subprotocols[0] if subprotocols else "")),
            ])
            reason = known.reason(case.id, target) if known is not None else None
            if reason is not None:
                # Strict: when a known failure passes, the run fails until the baseline entry goes.
                item.add_marker(pytest.mark.xfail(strict=True, reason=f"known failure ({known.path}): {reason}"))
                item.user_properties.append(("wsgateway_known_failure", reason))


#: nodeid -> target id of the items outside the catalogue that exchange with a target (the
#: disturbing cases of that target wait until they are over).
OTHER_ITEMS_KEY = pytest.StashKey[dict]()


def hand_over(session: pytest.Session) -> None:
    """Hand the executor the (case, target) pairs this process will run, once pytest selected them."""
    config = session.config
    if options.SETTINGS_KEY not in config.stash:
        return  # no conformance case was collected
    settings = options.settings(config)
    pairs, others = [], {}
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("wsgateway_case") if callspec else None
        if case is not None and hasattr(case, "rfc"):
            pairs.append((case, settings.target(callspec.params["wsgateway_target"])))
        elif callspec is not None and isinstance(callspec.params.get("wsgateway_target"), str):
            others[item.nodeid] = callspec.params["wsgateway_target"]  # origin-policy, the browser probe
    config.stash[OTHER_ITEMS_KEY] = others
    counts: dict[str, int] = {}
    for target_id in others.values():
        counts[target_id] = counts.get(target_id, 0) + 1
    options.executor(config).prepare(pairs, counts)


def item_over(item: pytest.Item) -> None:
    """``item`` is torn down: if it exchanged with a target outside the executor, tell the executor."""
    others = item.config.stash.get(OTHER_ITEMS_KEY, None)
    target_id = others.pop(item.nodeid, None) if others else None
    if target_id is not None:
        options.executor(item.config).other_item_done(target_id)


def request_count(config: pytest.Config, items: list[pytest.Item]) -> list[str] | None:
    given = config.stash.get(options.OPTIONS_KEY, None)
    if given is None or options.SETTINGS_KEY not in config.stash:
        return None
    from . import checks

    per_target: dict[str, int] = {}
    canaries: set[tuple[str, str]] = set()  # (target, transport): each transport has its canary
    for item in items:
        callspec = getattr(item, "callspec", None)
        case = callspec.params.get("wsgateway_case") if callspec else None
        if case is not None and hasattr(case, "rfc") and not checks.offline(name for name, _ in case.expect):
            target = callspec.params["wsgateway_target"]
            per_target[target] = per_target.get(target, 0) + 1
            canaries.add((target, getattr(case, "transport", "http/1.1")))
    if not per_target:
        return None
    total = sum(per_target.values()) + len(canaries)
    transports = {transport for _, transport in canaries}
    if transports == {"http/1.1"}:
        canary = "canary (the valid upgrade) per target"
    elif transports == {"h2"}:
        canary = "canary (the valid extended CONNECT over HTTP/2) per target"
    else:
        canary = "canary per target and protocol (the valid upgrade; over HTTP/2 the valid extended CONNECT)"
    lines = [f"wsgateway: this run sends about {total} handshake requests: {sum(per_target.values())} cases and one "
             f"{canary}, plus retries after rate limits"]
    if not (given.urls or given.targets):
        lines.insert(0, "wsgateway: target: the embedded reference server (ws:// and wss://, trusting its generated CA)")
    return lines


def properties(report: pytest.TestReport) -> dict:
    try:
        return dict(report.user_properties)
    except (TypeError, ValueError):
        return {}


def size_summary(terminalreporter) -> None:
    """The size ladder's result per target: the largest message that came back intact, and the
    limit met (a clean one is reported here, not failed; docs/tunnel.md)."""
    per_target: dict[str, list[tuple[int | None, str | None]]] = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) != "call":
                continue
            props = properties(report)
            largest, limit = props.get("wsgateway_largest_message"), props.get("wsgateway_message_limit")
            if isinstance(largest, int) or limit:
                per_target.setdefault(str(props.get("wsgateway_target", "")), []).append(
                    (largest if isinstance(largest, int) else None, str(limit) if limit else None))
    if not per_target:
        return
    from .reports import message_sizes, size_text

    terminalreporter.section("wsgateway: message sizes", sep="-")
    for target, results in per_target.items():
        largest, limit = message_sizes(results)
        terminalreporter.write_line(f"{target}: largest message: "
                                    f"{size_text({'largest_message': largest, 'message_limit': limit})}")


def summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """Say once per target why its cases were inconclusive, and how many answers were rate limits;
    and the size ladder's result (:func:`size_summary`)."""
    size_summary(terminalreporter)
    reasons: dict[tuple[str, str], int] = {}
    limited = 0
    for report in terminalreporter.stats.get("inconclusive", []):
        props = properties(report)
        cause = props.get("wsgateway_cause") or props.get("wsgateway_inconclusive", "")
        key = (str(props.get("wsgateway_target", "")), str(cause))
        reasons[key] = reasons.get(key, 0) + 1
    for reports in terminalreporter.stats.values():
        for report in reports:
            if getattr(report, "when", None) == "call":
                limited += int(properties(report).get("wsgateway_rate_limited", 0) or 0)
    if not reasons and not limited:
        return
    terminalreporter.section("wsgateway: could not judge", sep="-", yellow=True)
    for (target, reason), count in sorted(reasons.items()):
        terminalreporter.write_line(f"{target}: {count} case(s) inconclusive: {reason}")
    if limited:
        terminalreporter.write_line(f"{limited} answer(s) were rate limits (429 / 503 + Retry-After), waited out "
                                    f"within --gateway-retry-budget")
