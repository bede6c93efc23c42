"""Prometheus and the Pushgateway for tests: the Debian binaries (``prometheus``, ``prometheus-pushgateway``;
``scripts/install-system-deps.sh``) on 127.0.0.1 and free ports, each in its own folder, and a small client
of Prometheus's HTTP API. Part of the observability stack (``tests/support/observability_stack.py``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from faro_workloads.background_server import free_port

from support.server_processes import log_tail, stop_process

SCRAPE_INTERVAL_SECONDS = 1
START_TIMEOUT_SECONDS = 60.0


class StackError(RuntimeError):
    """A part of the stack is missing, did not start, or misbehaved (the message tells which and why)."""


def find_binary(name: str) -> str:
    """The path of a Debian server binary, or :class:`StackError` saying how to install it."""
    path = shutil.which(name) or f"/usr/bin/{name}"
    if not os.access(path, os.X_OK):
        raise StackError(f"{name} is not installed: run scripts/install-system-deps.sh (make system-deps)")
    return path


class LoopbackServer:
    """A server binary listening on 127.0.0.1 and a free port, its output in ``<folder>/<name>.log``."""

    name = "server"
    ready_path = "/-/ready"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        self.log = folder / f"{self.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def _spawn(self, binary: str, *args: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self._process = subprocess.Popen([binary, *args], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise StackError(
                    f"{self.name} exited with {self._process.returncode}; log {self.log}:\n"
                    f"{log_tail(self.log)}"
                )
            try:
                if httpx.get(f"{self.url}{self.ready_path}", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise StackError(f"{self.name} was not ready within {timeout:g} s:\n{log_tail(self.log)}")
            time.sleep(0.05)

    def stop(self) -> None:
        stop_process(self._process)
        self._process = None


class Pushgateway(LoopbackServer):
    """The Debian ``prometheus-pushgateway`` with a persistence file in ``folder``."""

    name = "pushgateway"

    def start(self) -> None:
        self._spawn(
            find_binary("prometheus-pushgateway"),
            f"--web.listen-address={self.address}",
            f"--persistence.file={self.folder / 'metrics.data'}",
        )


@dataclass(frozen=True)
class ScrapeTarget:
    """One ``host:port`` Prometheus scrapes under ``job``, with labels added to every series."""

    job: str
    address: str
    labels: dict[str, str]
    honor_labels: bool = False


class Prometheus(LoopbackServer):
    """The Debian ``prometheus`` server: static targets, every series scraped every second, the alert rules
    of ``rule_files`` evaluated every second, the TSDB in ``folder``; a small client of its HTTP API."""

    name = "prometheus"

    def __init__(self, folder: Path, targets: list[ScrapeTarget], rule_files: tuple[Path, ...] = ()) -> None:
        super().__init__(folder)
        self.targets = targets
        self.rule_files = rule_files
        self._http = httpx.Client(base_url=self.url, timeout=30)

    def config(self) -> dict[str, Any]:
        jobs: dict[str, list[ScrapeTarget]] = {}
        for target in self.targets:
            jobs.setdefault(target.job, []).append(target)
        interval = f"{SCRAPE_INTERVAL_SECONDS}s"
        return {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "evaluation_interval": interval,
            },
            "rule_files": [str(path) for path in self.rule_files],
            "scrape_configs": [
                {
                    "job_name": job,
                    "honor_labels": any(target.honor_labels for target in members),
                    "static_configs": [
                        {"targets": [target.address], "labels": target.labels} for target in members
                    ],
                }
                for job, members in jobs.items()
            ],
        }

    def start(self) -> None:
        config = self.folder / "prometheus.yml"
        self.folder.mkdir(parents=True, exist_ok=True)
        config.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        self._spawn(
            find_binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.folder / 'data'}",
            f"--web.listen-address={self.address}",
        )

    def stop(self) -> None:
        super().stop()
        self._http.close()

    # ---------------------------------------------------------------------------------------------- API

    def _answer(self, response: httpx.Response) -> dict[str, Any]:
        try:
            return response.json()
        except ValueError:
            return {"status": "error", "errorType": str(response.status_code), "error": response.text}

    def query(self, expr: str, at: float | None = None) -> dict[str, Any]:
        """The answer of ``/api/v1/query``: ``status`` "success" with ``data``, or "error" with ``error``."""
        form = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        return self._answer(self._http.post("/api/v1/query", data=form))

    def query_range(self, expr: str, start: float, end: float, step: float) -> dict[str, Any]:
        """The answer of ``/api/v1/query_range`` (a matrix on success)."""
        form = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        return self._answer(self._http.post("/api/v1/query_range", data=form))

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """``data`` of a successful GET of ``/api/v1/<path>`` (targets, rules, ...)."""
        answer = self._answer(self._http.get(f"/api/v1/{path}", params=params))
        if answer.get("status") != "success":
            raise StackError(f"GET /api/v1/{path}: {answer}")
        return answer["data"]

    def down_targets(self) -> list[str]:
        """The active targets whose last scrape failed (or that were not scraped yet), with the error."""
        return [
            f"{target['labels'].get('job')} {target['scrapeUrl']}: {target['health']} {target['lastError']}"
            for target in self.get("targets")["activeTargets"]
            if target["health"] != "up"
        ]

    def wait_for(self, expr: str, what: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Until the instant query ``expr`` returns a series (e.g. a comparison that holds)."""
        deadline = time.monotonic() + timeout
        while not self.query(expr).get("data", {}).get("result"):
            if time.monotonic() > deadline:
                raise StackError(f"prometheus never saw {what} ({expr}) within {timeout:.0f}s")
            time.sleep(SCRAPE_INTERVAL_SECONDS / 2)

    def wait_for_targets_up(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while down := self.down_targets():
            if time.monotonic() > deadline:
                raise StackError("targets not up:\n" + "\n".join(down))
            time.sleep(SCRAPE_INTERVAL_SECONDS / 2)
