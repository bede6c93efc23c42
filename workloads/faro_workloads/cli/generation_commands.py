"""``faro generations``: the index generations of a Faro API (``faro local``, ``--url``) or of a RagPipeline
in a cluster (``--pipeline``): which is live, which builds and how far (with its ETA), which are kept for
rollback, why a cutover is blocked. ``promote N`` (or ``approve N``) lets generation N go live — a Manual
cutover, or one the golden queries refused; ``rollback [N]`` sets a pipeline's profile back to a retained
generation's, which goes live at once, without embedding anything."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from faro_workloads.cli import api_key_option, cli, url_option
from faro_workloads.errors import InputError

console = Console()


@cli.group(invoke_without_command=True)
@url_option
@api_key_option
@click.option("--pipeline", help="A RagPipeline in the cluster of the kubeconfig (instead of --url).")
@click.option("-n", "--namespace", help="The RagPipeline's namespace (default: the context's).")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON answer.")
@click.pass_context
def generations(
    ctx: click.Context,
    url: str,
    api_key: str | None,
    pipeline: str | None,
    namespace: str | None,
    as_json: bool,
) -> None:
    """List the index generations of a Faro API or of a RagPipeline."""
    ctx.obj = {
        "url": url,
        "api_key": api_key,
        "pipeline": pipeline,
        "namespace": namespace,
        "as_json": as_json,
    }
    if ctx.invoked_subcommand is None:
        show(read_generations(ctx.obj), as_json)


@generations.command()
@click.argument("generation", type=click.IntRange(1, 1_000_000))
@click.pass_obj
def promote(options: dict, generation: int) -> None:
    """Approve the cutover to the building GENERATION: a Manual cutover, or one the golden queries refused
    (it goes live once its stores agree and it holds every document)."""
    if options["pipeline"]:
        show(cluster_pipeline(options).approve(generation), options["as_json"])
    else:
        show(_call(options, lambda client: client.approve_generation(generation)), options["as_json"])
    if not options["as_json"]:  # the table is the state now: the cutover itself follows within seconds
        console.print(
            f"generation {generation} approved: it goes live at the next cutover check, once its stores "
            "agree and it holds every document (`faro reindex` follows it there)",
            soft_wrap=True,
        )


generations.add_command(promote, name="approve")


@generations.command()
@click.argument("generation", type=click.IntRange(1, 1_000_000), required=False)
@click.pass_obj
def rollback(options: dict, generation: int | None) -> None:
    """Set a RagPipeline's model and chunking back to a retained GENERATION's (default: the most recently
    retired one): it goes live as soon as the embedding engine runs with it, with no embedding call."""
    from faro_workloads.cli.cluster_pipeline import rollback_target

    if not options["pipeline"]:
        view = read_generations(options)
        profile = rollback_target(view, generation)
        raise InputError(
            f"in local mode the flags are the profile: restart `faro local` with {local_flags(profile)} "
            "and that generation is live at once"
        )
    pipeline = cluster_pipeline(options)
    profile = rollback_target(pipeline.generations(), generation)
    pipeline.set_profile(profile)
    console.print(
        f"RagPipeline {pipeline.namespace}/{pipeline.name}: profile set back to {profile.describe()}; "
        "the embedding engine makes that generation live when its pods run with it",
        soft_wrap=True,
    )


def read_generations(options: dict) -> dict[str, Any]:
    """The generations from the API at ``--url``, or from ``--pipeline``'s status."""
    return generations_reader(options)()


def generations_reader(options: dict) -> Callable[[], dict[str, Any]]:
    """Reads the generations again at each call (the cluster's credentials loaded once)."""
    if options["pipeline"]:
        return cluster_pipeline(options).generations
    return lambda: _call(options, lambda client: client.generations())


def cluster_pipeline(options: dict):  # type: ignore[no-untyped-def]
    from faro_workloads.cli.cluster_pipeline import ClusterPipeline

    return ClusterPipeline.connect(options["pipeline"], options["namespace"])


def local_flags(profile: Any) -> str:
    """The ``faro local`` flags of ``profile`` (an IndexProfile)."""
    embedding, chunking = profile.embedding, profile.chunking
    if embedding.provider == "hash":
        embedder = "--embedder hash"
    elif embedding.provider in ("openai", "cohere"):
        embedder = f"--embedder portkey --model {embedding.model} --dimension {embedding.dimension}"
    else:
        embedder = "--embedder minilm"
    return (
        f"{embedder} --strategy {chunking.strategy} --chunk-size {chunking.size} "
        f"--chunk-overlap {chunking.overlap}"
    )


def _call(options: dict, request: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    from faro_workloads.client import FaroClient

    client = FaroClient(options["url"], options["api_key"])
    try:
        return request(client)
    finally:
        client.close()


def progress_text(generation: dict[str, Any]) -> str:
    """``done/documents documents, done about HH:MM:SS UTC`` for a building generation, else empty."""
    if generation.get("documents") is None:
        return ""
    text = f"{generation['done']}/{generation['documents']} documents"
    if generation.get("eta"):
        text += f", done about {str(generation['eta'])[11:19]} UTC"
    return text


_SINCE = {"Live": "live_since", "Retired": "retired_at"}
"""Since when a generation is in its state (a Building one: since it was made); a retired generation keeps
the time it went live too, which is not since when it is retired."""


def show(answer: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    table = Table(title=f"live generation: {answer['live']}")
    for column in ("id", "state", "profile", "since", "progress"):
        table.add_column(column, overflow="fold")  # wrapped in a narrow terminal, never cut off
    for generation in answer["generations"]:
        since = generation[_SINCE.get(generation["state"], "created_at")] or generation["created_at"] or ""
        progress = progress_text(generation)
        if generation["approved"] and generation["state"] == "Building":
            progress += " (approved)"
        table.add_row(str(generation["id"]), generation["state"], generation["summary"], since[:19], progress)
    console.print(table)
    if answer.get("blocked"):
        blocked = answer["blocked"]
        where = f"cutover to generation {blocked['generation']} blocked ({blocked['reason']})"
        console.print(f"{where}: {blocked['message']}", soft_wrap=True)
