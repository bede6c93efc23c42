"""``faro generations``: a Faro API's index generations (which is live, which builds and how far, which are
kept for rollback, why a cutover is blocked), and ``faro generations promote N`` (or ``approve N``) to let
generation N go live: a Manual cutover, or one the golden queries refused."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from faro_workloads.cli import cli

console = Console()


@cli.group(invoke_without_command=True)
@click.option("--url", default="http://127.0.0.1:8080", show_default=True, envvar="FARO_URL")
@click.option("--api-key", envvar="FARO_API_KEY", help="Bearer key, if the API wants one.")
@click.option("--json", "as_json", is_flag=True, help="Print the raw JSON answer.")
@click.pass_context
def generations(ctx: click.Context, url: str, api_key: str | None, as_json: bool) -> None:
    """List the index generations of a Faro API (faro local)."""
    ctx.obj = {"url": url, "api_key": api_key, "as_json": as_json}
    if ctx.invoked_subcommand is None:
        _show(_call(ctx.obj, lambda client: client.generations()), as_json)


@generations.command()
@click.argument("generation", type=click.IntRange(1, 1_000_000))
@click.pass_obj
def promote(options: dict, generation: int) -> None:
    """Approve the cutover to the building GENERATION: a Manual cutover, or one the golden queries refused
    (it goes live once its stores agree and it holds every document)."""
    _show(_call(options, lambda client: client.approve_generation(generation)), options["as_json"])


generations.add_command(promote, name="approve")


def _call(options: dict, request):  # type: ignore[no-untyped-def]
    from faro_workloads.client import FaroClient

    client = FaroClient(options["url"], options["api_key"])
    try:
        return request(client)
    finally:
        client.close()


def _show(answer: dict, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(answer, indent=2))
        return
    table = Table(title=f"live generation: {answer['live']}")
    for column in ("id", "state", "profile", "since", "progress"):
        table.add_column(column)
    for generation in answer["generations"]:
        since = generation["live_since"] or generation["retired_at"] or generation["created_at"]
        progress = ""
        if generation["documents"] is not None:
            progress = f"{generation['done']}/{generation['documents']} documents"
            if generation.get("eta"):
                progress += f", done about {generation['eta'][11:19]} UTC"
        if generation["approved"] and generation["state"] == "Building":
            progress += " (approved)"
        table.add_row(str(generation["id"]), generation["state"], generation["summary"], since[:19], progress)
    console.print(table)
    if answer.get("blocked"):
        blocked = answer["blocked"]
        where = f"cutover to generation {blocked['generation']} blocked ({blocked['reason']})"
        console.print(f"{where}: {blocked['message']}")
