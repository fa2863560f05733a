"""``wsgateway-conformance``: run the conformance suite from a shell, as a CI gate.

    wsgateway-conformance                                  # the embedded reference server
    wsgateway-conformance wss://gw.example.com/api/ws --gateway-ca ca.pem
    wsgateway-conformance ws://localhost:8080/ws -m must --junitxml=report.xml

Arguments that are ws:// or wss:// URLs become ``--gateway-url``; everything else goes to pytest
unchanged. The exit status is pytest's: 0 all passed, 1 a case failed, 4 a usage error.
"""

from __future__ import annotations

import sys


def build_args(argv: list[str]) -> list[str]:
    """The pytest arguments for ``argv``: URLs turned into --gateway-url, the suite appended."""
    args = []
    for arg in argv:
        is_url = arg.lower().startswith(("ws://", "wss://"))
        args.append(f"--gateway-url={arg}" if is_url else arg)
    return [*args, "--pyargs", "pytest_wsgateway.conformance"]


def main(argv: list[str] | None = None) -> int:
    import pytest

    return int(pytest.main(build_args(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
