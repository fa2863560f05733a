"""Regenerate the Chromium-over-HTTP/2 section of docs/http2.md (tests/interop/_chromium_h2.py).

Needs Chromium (apt-get install -y chromium) and certutil (libnss3-tools). Run from the repository root:

    python docs/gen_browser_h2.py            # rewrite the section
    python docs/gen_browser_h2.py --check    # exit 1 if it is stale
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "docs" / "http2.md"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the test helpers are the package ``tests`` at the repository root

from tests.interop import _chromium, _chromium_h2  # noqa: E402


def comparable(text: str) -> str:
    """The section without its Chromium version (a new Chromium with the same behaviour is current)."""
    return "\n".join(line for line in text.splitlines() if not line.startswith("Chromium "))


def current_section(text: str) -> str:
    start, end = text.find(_chromium_h2.BEGIN), text.find(_chromium_h2.END)
    return text[start:end + len(_chromium_h2.END)] if 0 <= start < end else ""


def generate() -> str:
    reason = _chromium.missing_tools()
    if reason:
        raise SystemExit(reason)
    with tempfile.TemporaryDirectory(prefix="wsgateway-h2-browser-") as directory:
        return _chromium_h2.render(_chromium_h2.run(Path(directory)), _chromium.chromium_version())


def main(argv: list[str]) -> int:
    text = OUTPUT.read_text(encoding="utf-8")
    old = current_section(text)
    if not old:
        print(f"{OUTPUT.relative_to(ROOT)} has no {_chromium_h2.BEGIN} section", file=sys.stderr)
        return 1
    fresh = generate()
    if "--check" in argv:
        if comparable(old) != comparable(fresh):
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run python docs/gen_browser_h2.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text.replace(old, fresh), encoding="utf-8")
    print(f"wrote the Chromium section of {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
