"""Running a `faro` command as its own process in tests, the way users and Kubernetes run it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest


@contextmanager
def faro_process(
    *args: str,
    log: Path,
    ready_url: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    expect_clean_exit: bool = True,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``faro ARGS`` (output to ``log``), wait until ``ready_url`` answers 200, and stop it with SIGTERM
    afterwards. With ``expect_clean_exit``, the process must then exit with status 0 (a graceful shutdown)."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "faro_workloads.cli", *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + timeout
        while not _answers(ready_url):
            if process.poll() is not None:
                pytest.fail(f"faro {args[0]} exited with {process.returncode}:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"faro {args[0]} did not answer {ready_url} within {timeout}s:\n{log.read_text()}"
                )
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise
            if expect_clean_exit:
                assert code == 0, f"faro {args[0]} exited with {code}:\n{log.read_text()}"


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
