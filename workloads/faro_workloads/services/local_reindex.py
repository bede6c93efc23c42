"""Reindexing a local data folder in the foreground, with a progress bar: what ``faro local --no-serve``
does when the wanted index profile (``--embedder``, ``--strategy``, ``--chunk-size``...)
differs from the live generation's. Serving, ``faro local`` does the same in the background and keeps
answering from the live generation until the cutover."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

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
            task = progress.add_task("", total=building[1].documents if building else 0)
            for _ in range(MAX_PASSES):
                # Counted once a step; each batch adds what it filled (a count per batch rescans the tables).
                done = building[1].done if building else 0
                progress.update(task, total=building[1].documents if building else 0, completed=done)
                report = controller.step(
                    on_batch=lambda result, done=done: progress.update(task, completed=done + result.filled)
                )
                if report.promoted is not None or report.blocked is not None:
                    break
                building = controller.building()
                if building is None:
                    break
            if report.promoted is not None:
                progress.update(task, completed=progress.tasks[task].total)
    return report
