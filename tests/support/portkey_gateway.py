"""The open-source Portkey AI gateway (npm ``@portkey-ai/gateway``, pinned in ``workloads/gateway``) as a
child process on 127.0.0.1, for the integration tests (``portkey_gateway`` fixture) and the benchmarks.

It runs from the source checkout (``workloads/gateway``) and needs ``node``/``npm`` on PATH; it installs the
gateway first with ``npm ci`` when ``node_modules`` is missing or older than the lockfile. Every failure is a
:class:`GatewayError` whose message is readable as it stands.
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
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

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


class GatewayError(RuntimeError):
    """The gateway could not be installed or started."""


def require_tool(name: str) -> str:
    """The path of ``name`` on PATH, or a :class:`GatewayError` saying what to install."""
    path = shutil.which(name)
    if path is None:
        raise GatewayError(
            f"the Portkey gateway needs {name!r} on PATH (Node.js 20 or newer with npm); "
            f"install it with the project's system setup"
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

    An exclusive lock on the lockfile keeps concurrent sessions in this tree from installing at once.
    ``--ignore-scripts``: the only install script is the gateway's ``patch-package`` postinstall, and the
    published package ships no patches for it to apply.
    """
    if not (GATEWAY_DIR / "package-lock.json").is_file():
        raise GatewayError(f"{GATEWAY_DIR} holds no package-lock.json: the gateway needs a source checkout")
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
                raise GatewayError(
                    f"npm ci in {GATEWAY_DIR} failed with status {result.returncode}:\n"
                    f"{result.stderr[-3000:]}"
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
                raise GatewayError(
                    f"the Portkey gateway exited with status {process.returncode}:\n{_log_tail(log)}"
                )
            try:
                if http.get("/").status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                stop_gateway(process)
                raise GatewayError(
                    f"the Portkey gateway did not answer within {START_TIMEOUT_SECONDS:g} s:\n"
                    f"{_log_tail(log)}"
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


@contextmanager
def running_gateway() -> Iterator[str]:
    """A gateway (installed first if needed) on a free loopback port for the block: its base URL
    ``http://127.0.0.1:<port>`` (no ``/v1``). Stopped on leaving."""
    node, npm = require_tool("node"), require_tool("npm")
    ensure_gateway_installed(npm)
    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = start_gateway(node, port, log)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            stop_gateway(process)
