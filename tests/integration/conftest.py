"""Fixtures of the integration tests beyond the shared ones in ``tests/conftest.py``.

- ``portkey_gateway`` (session): the real open-source Portkey AI gateway (npm ``@portkey-ai/gateway``, pinned
  in ``workloads/gateway``) listening on 127.0.0.1 and a free port; yields its base URL (no ``/v1``). It
  installs the gateway first with ``npm ci`` when ``node_modules`` is missing or older than the lockfile,
  and stops the process at the end. Needs ``node`` and ``npm`` on PATH.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from faro_workloads.background_server import free_port

GATEWAY_DIR = Path(__file__).resolve().parents[2] / "workloads" / "gateway"
START_SCRIPT = "node_modules/@portkey-ai/gateway/build/start-server.js"
# Written after a successful `npm ci`: the digest of the manifest and lockfile it installed.
INSTALL_STAMP = "node_modules/.faro-install-digest"
# Settings the gateway reads from the environment that would change where its requests go.
GATEWAY_ENV_DROPPED = frozenset(
    {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "TRUSTED_CUSTOM_HOSTS", "PORT"}
)
START_TIMEOUT_SECONDS = 30.0
NPM_CI_TIMEOUT_SECONDS = 600


def _tool(name: str) -> str:
    """The path of ``name`` on PATH; fails the session with a readable message when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"the Portkey gateway tests need {name!r} on PATH (Node.js 20 or newer with npm); "
            f"install it with the project's system setup",
            pytrace=False,
        )
    return path


def _install_digest() -> str:
    """What ``npm ci`` installs, as a digest: package.json and package-lock.json."""
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((GATEWAY_DIR / name).read_bytes())
    return digest.hexdigest()


def ensure_gateway_installed(npm: str) -> None:
    """Run ``npm ci`` in ``workloads/gateway`` unless node_modules already holds exactly the lockfile.

    An exclusive lock on the lockfile keeps concurrent test sessions in this tree from installing at once.
    ``--ignore-scripts``: the only install script is the gateway's ``patch-package`` postinstall, and the
    published package ships no patches for it to apply.
    """
    wanted = _install_digest()
    stamp = GATEWAY_DIR / INSTALL_STAMP
    with (GATEWAY_DIR / "package-lock.json").open("rb") as lockfile:
        fcntl.flock(lockfile, fcntl.LOCK_EX)
        try:
            installed = stamp.read_text().strip() if stamp.is_file() else None
            if installed == wanted and (GATEWAY_DIR / START_SCRIPT).is_file():
                return
            result = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                cwd=GATEWAY_DIR,
                capture_output=True,
                text=True,
                timeout=NPM_CI_TIMEOUT_SECONDS,
                check=False,
            )
            if result.returncode != 0:
                pytest.fail(
                    f"npm ci in {GATEWAY_DIR} failed with status {result.returncode}:\n"
                    f"{result.stderr[-3000:]}",
                    pytrace=False,
                )
            stamp.write_text(wanted)
        finally:
            fcntl.flock(lockfile, fcntl.LOCK_UN)


def loopback_preload() -> str:
    """The ``node --import`` module (a data: URL kept in package.json) that binds the gateway to 127.0.0.1.

    The gateway's start script calls ``serve({port})`` without a host and has no flag or variable for one,
    so it would listen on every interface; the preload gives its ``listen(port)`` call the host 127.0.0.1.
    """
    manifest = json.loads((GATEWAY_DIR / "package.json").read_text())
    return manifest["config"]["listen_loopback"]


def _log_tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode("utf-8", "replace")[-3000:]


def start_gateway(node: str, port: int, log: IO[bytes]) -> subprocess.Popen[bytes]:
    """Start the gateway on 127.0.0.1:``port`` and wait until it answers ``GET /``; output goes to ``log``."""
    env = {key: value for key, value in os.environ.items() if key not in GATEWAY_ENV_DROPPED}
    process = subprocess.Popen(
        [node, "--import", loopback_preload(), START_SCRIPT, f"--port={port}", "--headless"],
        cwd=GATEWAY_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=1.0) as http:
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"the Portkey gateway exited with status {process.returncode}:\n{_log_tail(log)}",
                    pytrace=False,
                )
            try:
                if http.get("/").status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                stop_gateway(process)
                pytest.fail(
                    f"the Portkey gateway did not answer within {START_TIMEOUT_SECONDS:g} s:\n"
                    f"{_log_tail(log)}",
                    pytrace=False,
                )
            time.sleep(0.05)  # polling interval, bounded by the deadline above


def stop_gateway(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if the gateway is still running after 5 s."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


@pytest.fixture(scope="session")
def portkey_gateway() -> Iterator[str]:
    """Base URL (``http://127.0.0.1:<port>``) of a real Portkey gateway running for the whole session."""
    node, npm = _tool("node"), _tool("npm")
    ensure_gateway_installed(npm)
    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = start_gateway(node, port, log)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_gateway(process)
