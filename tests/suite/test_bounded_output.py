"""Whatever a target sends, memory and output stay bounded (the whole suite, the default timeout).

* a 101 followed by endless 2-byte frames: the transport keeps at most a thousand frames and the
  transcript shows forty, then "… N more frames (M payload bytes)";
* a 101 with 10,000 header lines: the transcript shows sixty, then "… N more header lines".

The suite runs in a child process that reports its own peak RSS (``VmHWM`` of /proc/self/status:
``ru_maxrss`` would carry the parent's peak across fork and exec).
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.suite import _hostile as H

CHILD = """
import sys, pytest
code = pytest.main(sys.argv[1:])
with open("/proc/self/status") as status:
    peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
print("MAXRSS_KB", peak)
sys.exit(int(code))
"""


@pytest.mark.parametrize("behaviour", [H.tiny_frames_after_101, H.ten_thousand_headers],
                         ids=["tiny-frame-flood", "ten-thousand-headers"])
def test_the_suite_stays_bounded(behaviour, tmp_path):
    with H.hostile_server(behaviour, hold=60) as (url, _):
        done = subprocess.run(
            [sys.executable, "-c", CHILD, "--pyargs", "pytest_wsgateway.conformance", "-p", "no:cacheprovider",
             f"--gateway-url={url}", "--gateway-echo", f"--junitxml={tmp_path / 'junit.xml'}", "-rA"],
            capture_output=True, timeout=600, cwd=tmp_path)
    output = done.stdout + done.stderr
    assert b"Traceback" not in output and b"INTERNALERROR" not in output, output[-3000:]
    assert done.returncode == 1, output[-3000:]
    peak_mb = int(output.rsplit(b"MAXRSS_KB ", 1)[1].split()[0]) / 1024
    junit = (tmp_path / "junit.xml").stat().st_size
    print(f"{behaviour.__name__}: peak RSS {peak_mb:.0f} MB, output {len(output):,} bytes, JUnit {junit:,} bytes")
    assert peak_mb < 200
    assert len(output) < 2_000_000 and junit < 2_000_000
    marker = b"more frames (" if behaviour is H.tiny_frames_after_101 else b"more header lines"
    assert marker in output
