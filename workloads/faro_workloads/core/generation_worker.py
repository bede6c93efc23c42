"""Running a collection's generations in the background of a process that ingests (the embedding engine,
``faro local``): :class:`GenerationWorker`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from faro_workloads.core.backfill import PassResult
from faro_workloads.core.generation_control import GenerationController, StepReport

log = logging.getLogger(__name__)


class GenerationWorker:
    """Runs :meth:`GenerationController.step` in the background until stopped: at once, then every
    ``interval`` seconds while there is nothing to fill, under the collection's generations lock (one
    process of a pipeline plans, gates and cuts over; the others help fill). ``on_report`` sees each
    step's report."""

    def __init__(
        self,
        controller: GenerationController,
        interval: float = 10.0,
        on_report: Callable[[StepReport], None] | None = None,
    ) -> None:
        self.controller = controller
        self._interval = interval
        self._on_report = on_report
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.assisted: PassResult | None = None
        """What the last pass made beside another process's backfill did (None when there was none)."""

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="generations", daemon=True)
            self._thread.start()

    def run_once(self) -> StepReport | None:
        """One step under the lock; when another process holds it, help it fill the building generation
        (see :meth:`GenerationController.assist`) and return None."""
        with self.controller.lock() as taken:
            report = self.controller.step(self._stop) if taken else None
        if report is None:
            self.assisted = self.controller.assist(self._stop)
            return None
        if self._on_report is not None:
            self._on_report(report)
        return report

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                report = self.run_once()
                result = report.backfill if report is not None else self.assisted
                busy = result is not None and result.filled > 0
            except Exception as exc:  # a store or the model away: try again after the interval
                log.warning("generations step failed: %s", exc)
                busy = False
            if not busy:
                self._stop.wait(self._interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
