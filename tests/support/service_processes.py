"""Faro services (`faro serve ...`) as their own processes, configured the way a pod is: typed settings
turned into ``FARO_*`` variables by the contract's own :func:`settings_environment` (a misspelt setting
fails here, not silently in the child), health and metrics scraped over HTTP."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from faro_workloads.background_server import free_port
from faro_workloads.contract.settings import FaroSettings
from faro_workloads.contract.settings_env import settings_environment

from support.faro_process import faro_process


def service_environment(settings: FaroSettings) -> dict[str, str]:
    """This process's environment plus the ``FARO_*`` variables of the settings ``settings`` was given (the
    others keep their defaults), secrets included."""
    return {**os.environ, **settings_environment(_revealed(settings.model_dump(exclude_unset=True)))}


def _revealed(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: _revealed(value)
        if isinstance(value, Mapping)
        else value.get_secret_value()
        if isinstance(value, SecretStr)
        else value
        for name, value in values.items()
    }


@contextmanager
def engine_process(
    env: Mapping[str, str], log: Path, *options: str, expect_clean_exit: bool = True
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """(process, base URL of its health and metrics): ``faro serve embedder OPTIONS`` until the block ends
    (SIGTERM then; with ``expect_clean_exit`` it must exit 0)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ("serve", "embedder", "--host", "127.0.0.1", "--port", str(port), *options)
    with faro_process(
        *args, log=log, ready_url=f"{url}/healthz", env=dict(env), expect_clean_exit=expect_clean_exit
    ) as process:
        yield process, url


def scraped(url: str, sample: str) -> float:
    """The value of one sample (``name{labels}`` as exposed) on ``url``'s /metrics; 0 when absent."""
    for line in httpx.get(f"{url}/metrics", timeout=5).text.splitlines():
        if line.startswith(sample + " "):
            return float(line.split()[-1])
    return 0.0
