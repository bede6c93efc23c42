"""``faro reindex``: change a RagPipeline's model or chunking and follow the new index generation to its
cutover, or follow the reindex a Faro API (``faro local``) is running — a progress bar with the documents done
and the ETA; exit 0 once the generation is live (or awaits a Manual approval), 1 when its cutover is blocked
for a reason people must act on, or when it is still building at ``--timeout``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, get_args

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from faro_workloads.cli import UserError, api_key_option, cli, url_option
from faro_workloads.cli.generation_commands import cluster_pipeline, generations_reader, progress_text
from faro_workloads.contract.chunking import ChunkingStrategy
from faro_workloads.contract.generations import CutoverBlock

console = Console(stderr=True)

WAITING = {CutoverBlock.BACKFILL_INCOMPLETE.value}
"""Refusals that go away by themselves (writes landed during the gate): keep following."""


@cli.command()
@url_option
@api_key_option
@click.option("--pipeline", help="A RagPipeline in the cluster of the kubeconfig (instead of --url).")
@click.option("-n", "--namespace", help="The RagPipeline's namespace (default: the context's).")
@click.option("--provider", type=click.Choice(["openai", "cohere"]), help="New gateway provider.")
@click.option("--model", help="New embedding model (same dimension, or give --dimension).")
@click.option("--dimension", type=click.IntRange(1, 16000), help="The new model's dimension.")
@click.option("--strategy", type=click.Choice(get_args(ChunkingStrategy)), help="New chunking strategy.")
@click.option("--chunk-size", type=click.IntRange(8, 8192), help="New chunk size in tokens.")
@click.option("--chunk-overlap", type=click.IntRange(0, 4096), help="New overlap in tokens.")
@click.option("--timeout", type=click.FloatRange(1), default=3600.0, show_default=True, help="Seconds.")
@click.option("--interval", type=click.FloatRange(0.1), default=2.0, show_default=True, help="Seconds.")
def reindex(
    url: str,
    api_key: str | None,
    pipeline: str | None,
    namespace: str | None,
    provider: str | None,
    model: str | None,
    dimension: int | None,
    strategy: str | None,
    chunk_size: int | None,
    chunk_overlap: int | None,
    timeout: float,
    interval: float,
) -> None:
    """Reindex: set a RagPipeline's new model or chunking (with --pipeline), then follow the new index
    generation until it is live. Without changes, follow the generation that builds."""
    options = {"url": url, "api_key": api_key, "pipeline": pipeline, "namespace": namespace}
    embedding = {"provider": provider, "model": model, "dimension": dimension}
    chunking = {"strategy": strategy, "size": chunk_size, "overlap": chunk_overlap}
    wanted = {
        "embedding": {k: v for k, v in embedding.items() if v is not None},
        "chunking": {k: v for k, v in chunking.items() if v is not None},
    }
    wanted = {section: values for section, values in wanted.items() if values}
    if wanted and not pipeline:
        raise click.UsageError(
            "--provider, --model, --dimension, --strategy, --chunk-size and --chunk-overlap change a "
            "RagPipeline (--pipeline); locally, restart `faro local` with the new flags (--no-serve "
            "reindexes with a progress bar)"
        )
    if wanted:
        cluster = cluster_pipeline(options)
        cluster.patch({"spec": wanted})
        console.print(f"RagPipeline {pipeline}: {_describe(wanted)} set; waiting for the new generation")
        read, target = cluster.generations, None
    else:
        read = generations_reader(options)
        start = read()
        target = next((g["id"] for g in start["generations"] if g["state"] == "Building"), None)
        if target is None:
            console.print(f"nothing builds: generation {start['live']} is live")
            return
    _follow(read, wanted, target, timeout, interval)


def _follow(
    read: Callable[[], dict[str, Any]],
    wanted: dict[str, Any],
    target: int | None,
    timeout: float,
    interval: float,
) -> None:
    """Poll the generations until ``target`` (or a live generation with the ``wanted`` profile) is live."""
    deadline = time.monotonic() + timeout
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("waiting for the new generation", total=None)
        while True:
            view = read()
            live = next((g for g in view["generations"] if g["state"] == "Live"), None)
            if live is not None and (live["id"] == target or (wanted and _matches(live, wanted))):
                break
            building = next((g for g in view["generations"] if g["state"] == "Building"), None)
            if building is not None and (target is None or building["id"] == target):
                target = building["id"]
                progress.update(
                    task,
                    description=f"generation {target}: {progress_text(building)}",
                    total=building.get("documents") or None,
                    completed=building.get("done") or 0,
                )
                _stop_if_blocked(view, target)
            if time.monotonic() > deadline:
                where = progress_text(building) if building is not None else "not registered yet"
                raise UserError(f"still building after {timeout:.0f} s: generation {target} {where}")
            time.sleep(interval)
    click.echo(f"generation {live['id']} is live: {live['summary']}")


def _stop_if_blocked(view: dict[str, Any], generation: int) -> None:
    blocked = view.get("blocked")
    if not blocked or blocked["generation"] != generation or blocked["reason"] in WAITING:
        return
    if blocked["reason"] == CutoverBlock.AWAITING_APPROVAL.value:
        click.echo(
            f"generation {generation} passed the gate and waits for approval: "
            f"faro generations promote {generation}"
        )
        raise SystemExit(0)
    raise UserError(f"cutover to generation {generation} blocked ({blocked['reason']}): {blocked['message']}")


def _matches(generation: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Whether ``generation``'s profile has every value of ``wanted``."""
    profile = generation.get("profile") or {}
    return all(
        (profile.get(section) or {}).get(key) == value
        for section, values in wanted.items()
        for key, value in values.items()
    )


def _describe(wanted: dict[str, Any]) -> str:
    return ", ".join(
        f"{section}.{key}={value}" for section, values in wanted.items() for key, value in values.items()
    )
