"""``faro consistency``: the RagPipeline CronJob's entry point (see :mod:`faro_workloads.consistency_job`)."""

from __future__ import annotations

import json
import sys

import click

from faro_workloads.cli import cli


@cli.command("consistency")
@click.option(
    "--repair/--no-repair",
    default=None,
    help="Realign Qdrant from PostgreSQL, then check again [default: FARO_CONSISTENCY__REPAIR].",
)
@click.option("--sample-size", type=int, help="Stored vectors used as queries [default: from settings].")
@click.option("-k", "k", type=int, help="Top-k compared between the stores [default: from settings].")
@click.option("--min-overlap", type=float, help="Lowest acceptable overlap@k, 0..1 [default: from settings].")
@click.option(
    "--max-ids",
    type=click.IntRange(0, 1_000_000),
    default=100,
    show_default=True,
    help="Missing/orphan ids listed in the output (the totals are always given).",
)
@click.option("--pretty", is_flag=True, help="Indent the JSON output.")
def consistency(
    repair: bool | None,
    sample_size: int | None,
    k: int | None,
    min_overlap: float | None,
    max_ids: int,
    pretty: bool,
) -> None:
    """Compare PostgreSQL and Qdrant for the configured collection (FARO_* settings), optionally repair.

    Prints one JSON document on stdout (logs go to stderr); pushes gauges to the Pushgateway when
    FARO_CONSISTENCY__PUSHGATEWAY_URL is set; inside Kubernetes, writes the RagPipeline's
    status.consistency. Exit codes: 0 consistent, 1 drift, 2 configuration error, 3 a store unreachable
    (nothing checked), or the stores agree but publishing the results failed.
    """
    from faro_workloads.consistency_job import consistency_config, load_settings, run_job

    # A ConfigurationError (exit 2) or a StoreUnavailable (exit 3) reaches main(), which maps them.
    settings = load_settings()
    config = consistency_config(
        settings.consistency, repair=repair, sample_size=sample_size, k=k, min_overlap=min_overlap
    )
    outcome = run_job(settings, config, id_limit=max_ids)
    click.echo(json.dumps(outcome.document, indent=2 if pretty else None))
    # sys.exit, not ctx.exit: main() runs click with standalone_mode=False, which returns ctx.exit's code.
    sys.exit(int(outcome.exit_code))
