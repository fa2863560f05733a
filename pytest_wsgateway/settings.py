"""The resolved run settings: the targets (each a :class:`~pytest_wsgateway.targets.Target` with its
own settings) and the run-wide options. Pure data; built by :func:`pytest_wsgateway.options.resolve`.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .apidef import ApiInfo
from .redact import Redactor
from .targets import Target


#: Exchanges at once with each target unless ``--gateway-concurrency`` says otherwise: enough for
#: a target's ~150 cases (~300 round trips) to take about as long as the longest one (~6 round
#: trips); see docs/performance.md. The option's help text (options.py) says the same number.
DEFAULT_CONCURRENCY = 64
#: ``--gateway-rate`` (and a target's ``rate``): requests per second, from one an hour to this many.
MIN_RATE, MAX_RATE = 1 / 3600, 100_000
#: ``--gateway-retry-budget``: at most a day of waiting out rate limits.
MAX_RETRY_BUDGET = 86_400

@dataclass(frozen=True)
class Settings:
    """What the user told the suite (see the plugin's ``--gateway-*`` options).

    ``targets`` are the endpoints under test: the ``--gateway-url`` targets, or the embedded
    reference server's (:data:`~pytest_wsgateway.targets.EMBEDDED_TARGETS`). The other fields are
    the command line's defaults that each target carries unless it overrides them (``timeout`` in
    seconds per network step; ``headers`` as (name, value) pairs whose values are secrets, never in
    the repr), then the CI-gate and browser options.
    """

    targets: tuple[Target, ...] = ()
    timeout: float = 5.0
    origin: str | None = None
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    echo: bool = False
    api: ApiInfo | None = None
    subprotocols: tuple[str, ...] = ()
    known_failures: str | None = None
    write_baseline: str | None = None
    reports: tuple[str, ...] = ()
    browser: bool = False
    browser_path: str | None = None
    #: Requests per second per target (None: no cap); seconds the run may wait out rate limits.
    rate: float | None = None
    retry_budget: float = 60.0
    #: Exchanges run at once per target (1: one after another).
    concurrency: int = 16
    #: Problems found in the options that do not stop the run (e.g. an AsyncAPI ``ws`` binding
    #: whose method is not GET); the plugin issues each as a configuration warning.
    warnings: tuple[str, ...] = ()
    #: ``--gateway-http2``: off, auto or on (the HTTP/2 family, RFC 8441; see :attr:`Target.http2`);
    #: when not given, auto for the embedded reference server and off for given targets.
    http2: str = "off"
    #: ``--gateway-idle``: seconds a quiet connection must stay open (None: the idle case is skipped).
    idle: float | None = None

    @property
    def embedded(self) -> bool:
        """Whether the targets are the embedded reference server's."""
        return any(target.embedded for target in self.targets)

    def target_ids(self) -> list[str]:
        return [target.id for target in self.targets]

    def target(self, target_id: str) -> Target:
        """The target called ``target_id`` (KeyError if there is none)."""
        for target in self.targets:
            if target.id == target_id:
                return target
        raise KeyError(target_id)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Values never to print: those of every header, run-wide and per target."""
        values = [value for _, value in self.headers if value]
        values += [value for target in self.targets for value in target.secrets]
        return tuple(dict.fromkeys(values))

    def redactor(self) -> Redactor:
        """The :class:`~pytest_wsgateway.redact.Redactor` for everything this run renders."""
        names = [name for name, _ in self.headers] + [name for t in self.targets for name, _ in t.headers]
        params = [name for t in self.targets for name in t.secret_params]
        return Redactor(self.secrets, names, params)

    def extra_headers(self) -> tuple[tuple[str, str], ...]:
        """Origin (if set), then the headers: what every handshake request adds by default."""
        origin = (("Origin", self.origin),) if self.origin else ()
        return origin + self.headers
