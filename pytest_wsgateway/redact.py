"""Secret redaction, in one place: which values are secret, and how each kind of output hides them.

Secrets are the values of the user's request headers (``--gateway-header``,
``WSGATEWAY_HEADER_<NAME>``, a target's ``headers``): they carry client ids and tokens. They are
hidden where values are *rendered*, by field:

* a message head (request or response) shows ``Name: <redacted>`` for every header the user set,
  every credential-like header (:data:`CREDENTIAL_HEADERS`), and every header whose value holds a
  secret (a gateway may reflect one);
* a URL shows ``<redacted>`` for credential-like query parameters (:data:`CREDENTIAL_PARAMS`,
  e.g. API Connect's ``client_id``);
* free text (tracebacks, captured output, assertion diffs) goes through :meth:`Redactor.text`, the
  safety net: a secret of :data:`ANYWHERE_LENGTH` characters or more is replaced wherever it
  occurs, and so is every fragment of it that long (pytest shortens long reprs with ``...``, a
  preview cuts a body: what is left of a secret must not escape); a shorter one (``X-Debug: 1``)
  only where it stands alone, so ``127.0.0.1`` stays intact.

Secrets are the header values and the values of credential-like query parameters of the target
URLs (:data:`CREDENTIAL_PARAMS`, plus any named with ``--gateway-secret-param``).

Pure and standard-library only.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

REDACTED = "<redacted>"
#: Header names whose values are always secret (compared case-insensitively).
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie",
                                "x-ibm-client-id", "x-ibm-client-secret", "x-api-key", "api-key"})
#: Query parameters whose values are always secret (compared case-insensitively).
CREDENTIAL_PARAMS = frozenset({"client_id", "client_secret", "api_key", "apikey", "api-key", "key", "token",
                               "access_token", "id_token", "secret", "password", "sig", "signature", "auth"})
#: Secrets at least this long are replaced anywhere in free text; shorter ones only as a whole word.
ANYWHERE_LENGTH = 8


class Redactor:
    """Hides ``secrets`` (header values, credential query values), the values of
    ``secret_headers`` and of the query parameters ``secret_params`` in rendered output."""

    def __init__(self, secrets: Iterable[str] = (), secret_headers: Iterable[str] = (),
                 secret_params: Iterable[str] = ()) -> None:
        self.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))
        self.secret_headers = CREDENTIAL_HEADERS | {name.lower() for name in secret_headers}
        self.secret_params = CREDENTIAL_PARAMS | {name.lower() for name in secret_params}
        short = [rf"(?<![\w.]){re.escape(s)}(?![\w.])" for s in self.secrets if len(s) < ANYWHERE_LENGTH]
        windows = sorted({s[i : i + ANYWHERE_LENGTH] for s in self.secrets if len(s) >= ANYWHERE_LENGTH
                          for i in range(len(s) - ANYWHERE_LENGTH + 1)})
        long = [re.escape(s) for s in self.secrets if len(s) >= ANYWHERE_LENGTH]
        self._short = re.compile("|".join(short)) if short else None
        self._long = re.compile("|".join(long)) if long else None
        # every window of every long secret, found where they overlap too (a lookahead)
        self._windows = re.compile("(?=(" + "|".join(map(re.escape, windows)) + "))") if windows else None

    def __bool__(self) -> bool:
        return self._short is not None or self._windows is not None

    def text(self, text: str) -> str:
        """Free text with every secret, and every long fragment of one, replaced by ``<redacted>``."""
        if self._long is not None:  # whole secrets first (longest first), then what is left of one
            text = self._long.sub(REDACTED, text)
        if self._windows is not None:
            spans: list[list[int]] = []
            for match in self._windows.finditer(text):
                start, end = match.start(), match.start() + ANYWHERE_LENGTH
                if spans and start <= spans[-1][1]:
                    spans[-1][1] = max(spans[-1][1], end)
                else:
                    spans.append([start, end])
            for start, end in reversed(spans):
                text = text[:start] + REDACTED + text[end:]
        if self._short is not None:
            text = self._short.sub(REDACTED, text)
        return text

    def header(self, name: str, value: str) -> str:
        """The value to show for header ``name``."""
        if name.strip().lower() in self.secret_headers:
            return REDACTED
        return self.text(value)

    def head(self, data: bytes) -> str:
        """A message head (request or response bytes) as display text, one line per line."""
        lines = data.decode("latin-1").replace("\r\n", "\n").rstrip("\n").split("\n")
        shown = []
        for index, line in enumerate(lines):
            name, colon, value = line.partition(":")
            if index == 0 or not colon or not name.strip():
                shown.append(self.text(line))
            else:
                bare = value.lstrip(" \t")
                kept = value[: len(value) - len(bare)]
                shown.append(f"{name}:{kept}{self.header(name, bare)}" if bare else line)
        return "\n".join(shown)

    def url(self, url: str) -> str:
        """``url`` with credential-like query parameter values and secrets hidden."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return self.text(url)
        if not parts.query:
            return self.text(url)
        query = "&".join(self._param(item) for item in parts.query.split("&"))
        return self.text(urlunsplit(parts._replace(query=query)))

    def _param(self, item: str) -> str:
        name, equals, value = item.partition("=")
        return f"{name}={REDACTED}" if equals and value and name.lower() in self.secret_params else item


def query_secrets(resource: str, names: Iterable[str] = ()) -> tuple[str, ...]:
    """The values of credential-like query parameters in a URL's resource (``/p?client_id=…``)."""
    _, _, query = resource.partition("?")
    secret = CREDENTIAL_PARAMS | {name.lower() for name in names}
    found = []
    for item in query.split("&"):
        name, equals, value = item.partition("=")
        if equals and value and name.lower() in secret:
            found.append(value)
    return tuple(found)


NO_SECRETS = Redactor()
