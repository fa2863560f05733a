"""Regenerate docs/browser-agreement.md: Chromium's open/refuse vs the suite's client-side verdict.

Needs Chromium (apt-get install -y chromium), certutil (libnss3-tools) and, for the gateway rows,
nginx, haproxy and caddy. Run from the repository root:

    python docs/gen_browser_agreement.py            # rewrite the file
    python docs/gen_browser_agreement.py --check    # exit 1 if the file is stale
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "browser-agreement.md"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the test helpers are the package ``tests`` at the repository root

from tests.interop import _chromium  # noqa: E402


def comparable(text: str) -> str:
    """The document without its Chromium version line (a new Chromium with the same behaviour is current)."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("Generated with Chromium"))


def generate() -> str:
    reason = _chromium.missing_tools()
    if reason:
        raise SystemExit(reason)
    return _chromium.render(_chromium.run_agreement(), _chromium.chromium_version())


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if comparable(current) != comparable(text):
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run python docs/gen_browser_agreement.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
