"""Reindexing a local data folder in the foreground, with a progress bar: what ``faro local --no-serve`` and
``faro reindex`` do when the wanted index profile (``--embedder``, ``--strategy``, ``--chunk-size``...)
differs from the live generation's. Serving, ``faro local`` does the same in the background and keeps
answering from the live generation until the cutover."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from faro_workloads.contract.generations import CutoverBlock
from faro_workloads.core.backfill import PassResult
from faro_workloads.core.generation_control import GenerationController, StepReport
from faro_workloads.services.local_options import LocalModeError

MAX_PASSES = 100
"""Passes before giving up: each closes the differences the previous one left (writes made meanwhile)."""


def reindex(controller: GenerationController, console: Console, show_progress: bool = True) -> StepReport:
    """Build and cut over to the wanted profile's generation (or roll back to it), in the foreground; the
    last step's report (``blocked`` says why a cutover did not happen)."""
    with controller.lock() as taken:
        if not taken:
            raise LocalModeError("another process is reindexing this data folder")
        controller.reconcile()
        building = controller.building()
        columns = (TextColumn("[bold]reindex"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, disable=not show_progress or building is None) as progress:
            total = building[1].documents if building else 0
            task = progress.add_task("", total=total, completed=building[1].done if building else 0)

            def advance(result: PassResult) -> None:
                current = controller.building()
                if current is not None:
                    progress.update(task, total=current[1].documents, completed=current[1].done)

            report = controller.step(on_batch=advance)
            passes = 1
            while (
                report.promoted is None
                and report.blocked is None
                and controller.building()
                and passes < MAX_PASSES
            ):
                report = controller.step(on_batch=advance)
                passes += 1
            if report.promoted is not None:
                progress.update(task, completed=progress.tasks[task].total)
    return report


def _unfinished(report: StepReport) -> bool:
    """Neither cut over nor blocked for a reason another pass cannot fix."""
    blocked = report.blocked
    return report.promoted is None and (blocked is None or blocked.reason is CutoverBlock.BACKFILL_INCOMPLETE)
