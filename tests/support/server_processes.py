"""Stopping a test's server process and reading what it logged: shared by the kube-apiserver, Prometheus
and the other servers the tests start."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

STOP_TIMEOUT_SECONDS = 15.0


def log_tail(path: Path, limit: int = 4000) -> str:
    """The end of a server log; for a Go crash, its start instead (the goroutine dump after it is long)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    crash = re.search(r"^(panic: |fatal error: )", text, re.MULTILINE)
    return text[crash.start() : crash.start() + limit] if crash else text[-limit:]


def stop_process(process: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM, then SIGKILL after ``STOP_TIMEOUT_SECONDS`` (nothing when it is not running)."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
