"""``faro dlq``: a pipeline's dead-letter queue — ``list`` what the embedding engine gave up on (the document,
the reason, how often it was tried, how long ago) and, after a fix, ``redrive`` it to the main queue.

The queues come from ``--pipeline`` (the RagPipeline's ``spec.source``, through the kubeconfig), else from the
environment the embedding engine itself reads (``FARO_SQS__*``, ``FARO_S3__PREFIX``, ``FARO_PIPELINE``), and
the flags override either. AWS credentials are boto3's usual ones."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from faro_workloads.cli import cli

console = Console()


@cli.group()
@click.option("--pipeline", help="A RagPipeline in the cluster of the kubeconfig: its spec.source queues.")
@click.option("-n", "--namespace", help="The RagPipeline's namespace (default: the context's).")
@click.option("--queue-url", help="The main queue (default: FARO_SQS__QUEUE_URL).")
@click.option("--dlq-url", help="The dead-letter queue (default: FARO_SQS__DEAD_LETTER_QUEUE_URL).")
@click.option("--endpoint-url", help="SQS endpoint (default: FARO_SQS__ENDPOINT_URL, else AWS's).")
@click.option("--region", help="AWS region (default: FARO_SQS__REGION, else us-east-1).")
@click.pass_context
def dlq(ctx: click.Context, **options: str | None) -> None:
    """A pipeline's dead-letter queue: list it, redrive it after a fix."""
    ctx.obj = options


@dlq.command("list")
@click.option("--limit", type=click.IntRange(1, 10_000), default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per dead letter.")
@click.pass_obj
def list_(options: dict[str, Any], limit: int, as_json: bool) -> None:
    """The dead letters, oldest first (none is consumed)."""
    letters = _queue(options).list(limit)
    now = datetime.now(UTC)
    if as_json:
        for letter in letters:
            row = {**asdict(letter), "sent_at": letter.sent_at.isoformat() if letter.sent_at else None}
            click.echo(json.dumps(row))
        return
    table = Table(title=f"{len(letters)} dead letters")
    for column in ("message", "document", "receives", "age", "error"):
        table.add_column(column, overflow="fold")
    for letter in letters:
        age = letter.age_seconds(now)
        table.add_row(
            letter.message_id[:13],
            letter.document or "(not an S3 event)",
            str(letter.receives or ""),
            _duration(age) if age is not None else "",
            letter.error,
        )
    console.print(table)


@dlq.command()
@click.argument("message_ids", nargs=-1)
@click.option("--document", "documents", multiple=True, help="Redrive this document's dead letters.")
@click.option("--all", "everything", is_flag=True, help="Redrive every dead letter.")
@click.pass_obj
def redrive(
    options: dict[str, Any], message_ids: tuple[str, ...], documents: tuple[str, ...], everything: bool
) -> None:
    """Send dead letters back to the main queue (by MESSAGE_ID or its first characters as `list` shows them,
    by --document, or --all) once what failed them is fixed."""
    if not (message_ids or documents or everything):
        raise click.UsageError("name MESSAGE_IDs, --document DOC_ID, or --all")
    result = _queue(options).redrive(
        lambda letter: (
            everything
            or letter.document in documents
            or any(letter.message_id.startswith(prefix) for prefix in message_ids)
        )
    )
    if not result.moved:
        raise click.ClickException(f"no dead letter matched ({result.left} left in the queue)")
    click.echo(
        f"{len(result.moved)} sent back to the main queue, {result.left} left in the dead-letter queue"
    )


def _queue(options: dict[str, Any]):  # type: ignore[no-untyped-def]
    from faro_workloads.aws_resources import sqs_client
    from faro_workloads.contract.settings import SQSConfig
    from faro_workloads.core.chunk_objects import ChunkObjectLayout
    from faro_workloads.dead_letters import DeadLetterQueue

    found = _from_pipeline(options) if options["pipeline"] else _from_environment()
    given = {k: options[k] for k in ("queue_url", "dlq_url", "endpoint_url", "region") if options[k]}
    found.update(given)
    if not found.get("queue_url") or not found.get("dlq_url"):
        raise click.UsageError(
            "no queues: give --pipeline, or --queue-url and --dlq-url (or FARO_SQS__QUEUE_URL and "
            "FARO_SQS__DEAD_LETTER_QUEUE_URL)"
        )
    config = SQSConfig(
        queue_url=found["queue_url"],
        dead_letter_queue_url=found["dlq_url"],
        endpoint_url=found.get("endpoint_url"),
        region=found.get("region") or "us-east-1",
        wait_seconds=1,
    )
    layout = ChunkObjectLayout(found["prefix"], found["pipeline"]) if found.get("pipeline") else None
    return DeadLetterQueue(sqs_client(config), config.queue_url, found["dlq_url"], layout)


def _from_pipeline(options: dict[str, Any]) -> dict[str, Any]:
    from faro_workloads.cli.cluster_pipeline import ClusterPipeline

    pipeline = ClusterPipeline.connect(options["pipeline"], options["namespace"])
    source = pipeline.get()["spec"]["source"]
    return {
        "queue_url": source.get("queueUrl"),
        "dlq_url": source.get("deadLetterQueueUrl"),
        "endpoint_url": source.get("endpointUrl"),
        "region": source.get("region"),
        "prefix": source.get("prefix") or "faro",
        "pipeline": pipeline.name,
    }


def _from_environment() -> dict[str, Any]:
    return {
        "queue_url": os.environ.get("FARO_SQS__QUEUE_URL"),
        "dlq_url": os.environ.get("FARO_SQS__DEAD_LETTER_QUEUE_URL"),
        "endpoint_url": os.environ.get("FARO_SQS__ENDPOINT_URL"),
        "region": os.environ.get("FARO_SQS__REGION"),
        "prefix": os.environ.get("FARO_S3__PREFIX") or "faro",
        "pipeline": os.environ.get("FARO_PIPELINE"),
    }


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172_800:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"
