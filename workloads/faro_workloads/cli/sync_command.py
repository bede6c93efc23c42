"""``faro sync``: the bucket source's full sync, on demand (the consistency CronJob runs it periodically)."""

from __future__ import annotations

import json
import sys

import click

from faro_workloads.cli import cli


@cli.command("sync")
@click.option("--dry-run", is_flag=True, help="Only count what differs; ingest and delete nothing.")
@click.option("--pretty", is_flag=True, help="Indent the JSON output.")
def sync(dry_run: bool, pretty: bool) -> None:
    """Bring the stores in line with the bucket source (FARO_SOURCE_DOCUMENTS__*): what is new or changed
    there is sent to the embedding engine, what is gone is deleted from every store.

    Lists the source a page at a time (memory stays bounded whatever the number of keys) and may be killed
    and run again: the next run finishes the work. Prints one JSON report. Exit codes: 0 nothing left to do,
    1 differences remain (a dry run that found some, or deletions refused), 2 configuration error, 3 a store,
    S3 or SQS unreachable.
    """
    from faro_workloads.census_run import run_sync
    from faro_workloads.consistency_job import load_settings

    report = run_sync(load_settings(needs_qdrant=False), dry_run)
    document = {"dry_run": dry_run, **report.to_dict()}
    click.echo(json.dumps(document, indent=2 if pretty else None))
    left = report.gap("missing_in_postgres") + report.gap("orphans") if dry_run else 0
    sys.exit(0 if report.complete and not left else 1)
