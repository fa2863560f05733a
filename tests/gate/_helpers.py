"""Helpers for the CI-gate tests: a reference server with a switchable fault, and report readers.

The server runs on a :mod:`tests.harness` thread on a port-0 socket bound before the thread
starts (no free-port race) and stops when the ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from tests.harness import reference_server

from pytest_wsgateway.reference_server import ServerConfig
from pytest_wsgateway.reference_server.faults import Fault

# The suite, run by pytester. Hypothesis's plugin is switched off in these inner runs only: it
# re-imports hypothesis (seconds) in every in-process run and the suite does not use it.
SUITE = ("--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider", "-p", "no:hypothesispytest")
# Cases that fail while the fault is on (101 without Upgrade) and one that passes either way.
FAULTY_CASES = ("accept-rfc-vector", "upgrade-header-websocket")
PASSING_CASE = "reject-version-99-version-advertised"
SELECTION = " or ".join((*FAULTY_CASES, PASSING_CASE))


@dataclass
class FaultyServer:
    """A strict reference server whose 101 loses its ``Upgrade`` header while ``fault`` is on.

    With ``reflect`` set, every response also carries ``X-Reflected: <value of that request
    header>``, so a secret request header comes back in the response transcript too.
    ``seen`` records the request headers the server received.
    """

    url: str = ""
    fault: bool = True
    reflect: str | None = None
    seen: list[tuple[tuple[str, str], ...]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hook(self, request, response):
        if request is not None:
            with self.lock:
                self.seen.append(request.headers)
        if self.reflect and request is not None and request.get(self.reflect):
            response = dataclasses.replace(response, headers=(*response.headers, ("X-Reflected", request.get(self.reflect))))
        if self.fault and response.status == 101:
            response = response.without_header("Upgrade")
        return response


@contextlib.contextmanager
def faulty_server(*, fault: bool = True, reflect: str | None = None) -> Iterator[FaultyServer]:
    state = FaultyServer(fault=fault, reflect=reflect)
    rewrite = Fault(name="gate-helper", doc="The 101 loses Upgrade while the fault is on.", seen="", respond=state.hook)
    with reference_server(ServerConfig(schemes=("ws",), fault=rewrite)) as server:
        state.url = server.urls["ws"]
        yield state


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


class HtmlReport(HTMLParser):
    """The parts of an HTML report the tests look at: tags used, rows with data-* attributes, text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.external: list[str] = []
        self.rows: list[dict[str, str]] = []
        self.ids: set[str] = set()
        self.links: list[str] = []  # same-document links (href="#id")
        self.text: list[str] = []
        self.open_ends = 0
        self.stack: list[tuple[str, dict[str, str]]] = []  # the open elements
        self.pres: list[tuple[list[str], str]] = []  # each <pre>: the tags around it, its text
        self.order: list[str] = []  # "id:<id>" and "row:<case>:<verdict>" in document order
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.tags.append(tag)
        if "id" in attributes:
            self.ids.add(attributes["id"])
        for name in ("src", "href"):
            value = attributes.get(name)
            if value and name == "href" and value.startswith("#"):
                self.links.append(value[1:])  # a link within the page loads nothing
            elif value:
                self.external.append(value)
        if "id" in attributes:
            self.order.append(f"id:{attributes['id']}")
        if tag == "tr" and "data-case" in attributes:
            row = {k: v or "" for k, v in attributes.items()}
            row["_inside"] = " ".join(name for name, _ in self.stack)
            row["_closed_details"] = str(any(name == "details" and "open" not in attrs for name, attrs in self.stack))
            self.rows.append(row)
            self.order.append(f"row:{row['data-case']}:{row.get('data-verdict', '')}")
        if tag not in self.VOID:
            self.stack.append((tag, {k: v or "" for k, v in attrs}))
        if tag == "pre":
            self.pres.append(([name for name, _ in self.stack[:-1]], ""))

    VOID = {"meta", "br", "img", "hr", "input", "link", "wbr", "col", "area", "base", "source"}

    def handle_endtag(self, tag):
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                break

    def handle_data(self, data):
        self.text.append(data)
        if any(name == "pre" for name, _ in self.stack) and self.pres:
            around, text = self.pres[-1]
            self.pres[-1] = (around, text + data)

    def case_rows(self) -> list[dict[str, str]]:
        """Rows of the per-target case tables (they carry data-verdict)."""
        return [row for row in self.rows if "data-verdict" in row]

    def matrix_rows(self) -> list[dict[str, str]]:
        return [row for row in self.rows if "data-verdict" not in row]

    def position(self, entry: str) -> int:
        """Where ``id:<id>`` or ``row:<case>:<verdict>`` first occurs in the page."""
        return self.order.index(entry)
