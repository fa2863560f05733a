"""The transport seam: how a request reaches a target, behind one small interface.

A transport takes a :class:`~pytest_wsgateway.targets.Target`, the request bytes a case rendered
and the case's after-101 steps, and returns an :class:`~pytest_wsgateway.exchange.Exchange`
(or raises :class:`~pytest_wsgateway.exchange.ConnectError` when the target cannot be reached).
Every read it makes has a deadline of ``timeout`` seconds per network step.

Which transport runs a case is data: :data:`TRANSPORTS` maps a protocol name to an instance, and
:func:`transport_for` picks by the case's ``transport:`` field (``http/1.1`` unless the case says
``h2``: :class:`~pytest_wsgateway.http2.Http2Transport`, RFC 8441). A new transport (HTTP/3,
RFC 9220) is a module with a class like :class:`~pytest_wsgateway.http1.Http1Transport`, one entry
here, and its name in :data:`pytest_wsgateway.cases.TRANSPORT_NAMES` -- the runner does not change.

(PYTEST_DONT_REWRITE: no assertions to rewrite; pytest marks the plugin's package for rewriting.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from .exchange import Exchange
    from .frames import Burst
    from .targets import Target

#: ``(action, payload)``: bytes for ``ping``, ``close``, ``text``, ``binary``, ``deflate-text``; a
#: :class:`~pytest_wsgateway.frames.Burst` (frames sent back to back) for ``fragments`` and ``pings``.
Steps = tuple[tuple[str, "bytes | Burst"], ...]


class Transport(Protocol):
    """``exchange(target, request, steps=..., timeout=...) -> Exchange``."""

    name: str

    def exchange(self, target: Target, request: bytes, *, steps: Steps = (), timeout: float = 5.0) -> Exchange:
        """Send ``request``, read the answer, run ``steps`` after a 101 (``("ping", payload)``,
        ``("close", code)``, ``("text", data)``, ``("binary", data)``, ``("fragments", burst)``,
        ``("pings", burst)``)."""
        ...


def _transports() -> dict[str, Transport]:
    from .http1 import Http1Transport
    from .http2 import Http2Transport

    return {Http1Transport.name: Http1Transport(), Http2Transport.name: Http2Transport()}


TRANSPORTS: dict[str, Transport] = {}


def transport_for(target: Target, protocol: str = "http/1.1") -> Transport:
    """The transport that speaks ``protocol`` (a case's ``transport:``) to ``target``."""
    if not TRANSPORTS:
        TRANSPORTS.update(_transports())
    try:
        return TRANSPORTS[protocol]
    except KeyError:
        raise ValueError(f"no transport for {protocol!r} (known: {', '.join(TRANSPORTS)})") from None
