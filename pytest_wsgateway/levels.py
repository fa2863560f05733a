"""Requirement levels of the case catalogue: the one list (and each level's pytest marker text).

Pure data, standard library only: the plugin registers a marker per level at start-up, the
catalogue validates ``level:`` against it, and the reports count verdicts per level in this order.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

#: level -> marker description, in report order.
LEVELS: dict[str, str] = {
    "must": "RFC MUST-level requirement (a failure is a protocol violation)",
    "should": "RFC SHOULD-level requirement or clean-error expectation",
    "interop": "interoperability expectation beyond the RFC's MUSTs (what real clients and gateways rely on)",
    "browser": "what a browser's WebSocket client checks beyond RFC 6455 (WHATWG WebSockets and Fetch)",
}
