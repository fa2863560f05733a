"""The pytest entry point (``pytest11: wsgateway``): hooks only.

Every pytest run in an environment where pytest-wsgateway is installed imports this module, so it
imports only pytest, the standard library and the cheap :mod:`.options` / :mod:`.levels` at module
level, and each hook returns at once in a run that does not use the suite. What the hooks do lives
elsewhere: option handling in :mod:`.options` (validation in :mod:`.validation`), fixtures in
:mod:`.fixtures`, the rest of a run that uses the suite in :mod:`.session`, redaction in
:mod:`.redact`, the gate in :mod:`.baseline` and :mod:`.reports`.

PYTEST_DONT_REWRITE: no assertions here, so pytest need not rewrite (and recompile) this module.
"""

from __future__ import annotations

import pytest

from . import options
from .levels import LEVELS

#: The failure message an item rendered itself (already redacted field by field).
RENDERED_KEY = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    options.add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for level, description in LEVELS.items():
        config.addinivalue_line("markers", f"{level}: {description}")
    config.addinivalue_line("markers", "http2: WebSockets over HTTP/2 (RFC 8441): the h2- case family (docs/http2.md)")
    config.addinivalue_line("markers", "wsgateway_slow: a case that waits on purpose (tunnel-idle: --gateway-idle "
                                       "seconds); deselect with -m 'not wsgateway_slow'")
    given = config.stash[options.OPTIONS_KEY] = options.read_options(config)
    if given.validate_early:
        found = options.settings(config)  # a bad value is one usage-error line, not a failure per test
        for message in found.warnings:  # e.g. an AsyncAPI ws binding whose method is not GET
            try:
                config.issue_config_time_warning(pytest.PytestConfigWarning(f"wsgateway: {message}"), stacklevel=2)
            except pytest.PytestConfigWarning:  # -W error: one usage-error line, not an INTERNALERROR
                raise pytest.UsageError(message) from None
    if getattr(config.option, "debug", None) and (given.headers or given.urls or given.targets):
        from .session import redact_debug_log

        redact_debug_log(config)
    if given.vantage:  # checked even without a report (where it is used): a bad label is one line
        from .session import vantage

        vantage(given)
    if given.known_failures or given.write_baseline or given.reports:
        from .session import configure_gate

        configure_gate(config, given)
    if getattr(config.option, "xmlpath", None) and not hasattr(config, "workerinput"):
        from .junit import JUnitNames

        config.pluginmanager.register(JUnitNames(config), "wsgateway-junit")
    from . import fixtures

    config.pluginmanager.register(fixtures, "wsgateway-fixtures")


_REDACTOR_KEY = pytest.StashKey[tuple]()


def _redactor(config: pytest.Config):
    """The run's redactor (None: no secret to hide), built once per settings: every report asks."""
    settings = config.stash.get(options.SETTINGS_KEY, None)
    if settings is None:
        return None
    cached = config.stash.get(_REDACTOR_KEY, None)
    if cached is None or cached[0] is not settings:
        cached = config.stash[_REDACTOR_KEY] = (settings, settings.redactor() if settings.secrets else None)
    return cached[1]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    redactor = _redactor(item.config)
    if redactor is not None:
        from .session import redact_report

        redact_report(report, redactor, item.stash.get(RENDERED_KEY, None))
    if call.when == "call" and report.failed and RENDERED_KEY in item.stash:
        # the case's own explanation (rendered redacted), for the reports: pytest's text of the
        # failure may be a traceback with its variables (--full-trace, --showlocals)
        report.wsgateway_message = item.stash[RENDERED_KEY]
    if call.when == "teardown" and options.SETTINGS_KEY in item.config.stash:
        from .session import item_over

        item_over(item)
    return report


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_make_collect_report(collector: pytest.Collector):
    report = yield
    redactor = _redactor(collector.config)
    if redactor is not None:
        from .session import redact_report

        redact_report(report, redactor, None)
    return report


def pytest_report_header(config: pytest.Config) -> list[str]:
    """``wsgateway: pytest-wsgateway <version>``; with --gateway-url or --gateway-targets, the targets and (when one is
    ``wss://``) how their certificates are checked. (``pytest -VV`` lists the plugin too.)"""
    from . import __version__

    lines = [f"wsgateway: pytest-wsgateway {__version__}"]
    given = config.stash.get(options.OPTIONS_KEY, None)
    if given is not None and (given.urls or given.targets):
        from .session import target_lines

        lines += target_lines(config, given)
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "wsgateway_case" not in metafunc.fixturenames:
        return
    settings = options.settings(metafunc.config)
    # pytest-xdist's --dist loadgroup (on a worker: option.loadgroup): a target's cases share one
    # worker, so its canary is sent once and --gateway-rate caps the target, not each worker.
    option = metafunc.config.option
    grouped = getattr(option, "loadgroup", False) or getattr(option, "dist", "") == "loadgroup"
    params = []
    for target in settings.targets:
        for case in options.catalogue():
            if target.runs(case):
                marks = [getattr(pytest.mark, case.level)] + ([pytest.mark.http2] if case.transport == "h2" else [])
                if "idle" in case.requires:  # waits --gateway-idle seconds on purpose
                    marks.append(pytest.mark.wsgateway_slow)
                if grouped:
                    marks.append(pytest.mark.xdist_group(target.id))
                params.append(pytest.param(case, target.id, id=f"{case.id}@{target.id}", marks=marks))
    metafunc.parametrize(("wsgateway_case", "wsgateway_target"), params, indirect=["wsgateway_target"])


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if options.SETTINGS_KEY in config.stash:  # the suite was collected (or its options given)
        from .session import label_items

        label_items(config, items)


def pytest_collection_finish(session: pytest.Session) -> None:
    if options.SETTINGS_KEY in session.config.stash:
        from .session import hand_over

        hand_over(session)


def pytest_unconfigure(config: pytest.Config) -> None:
    executor = config.stash.get(options.EXECUTOR_KEY, None)
    if executor is not None:
        executor.close()


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> list[str] | None:
    if options.SETTINGS_KEY not in config.stash:
        return None
    from .session import request_count

    return request_count(config, items)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config):
    """A case that could not be judged fails the run but is shown as INCONCLUSIVE, not FAILED."""
    if report.when == "call" and report.failed and any(
            name == "wsgateway_inconclusive" for name, _ in getattr(report, "user_properties", ()) or ()):
        return "inconclusive", "I", ("INCONCLUSIVE", {"yellow": True})
    return None


def _sized(terminalreporter) -> bool:
    """Whether a report carries the size ladder's result (under xdist the controller has no settings)."""
    return any(name in ("wsgateway_largest_message", "wsgateway_message_limit")
               for key in ("passed", "failed") for report in terminalreporter.stats.get(key, ())
               for name, _ in getattr(report, "user_properties", ()) or ())


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if terminalreporter.stats.get("inconclusive") or options.SETTINGS_KEY in config.stash or _sized(terminalreporter):
        from .session import summary

        summary(terminalreporter, exitstatus, config)
