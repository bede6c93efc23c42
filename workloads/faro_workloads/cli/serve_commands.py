"""``faro serve chunker|embedder|query``: the cluster services, configured from FARO_* variables.

Each command parses its options, builds its service (:mod:`faro_workloads.services`), runs it and closes it.
"""

from __future__ import annotations

import click

from faro_workloads.cli import cli


@cli.group()
def serve() -> None:
    """Run one of the cluster services (configuration from FARO_* environment variables)."""


def _settings(needs_qdrant: bool = False, reads: bool = False):  # type: ignore[no-untyped-def]
    """The FARO_* settings; with ``needs_qdrant``, refused when they name no Qdrant that lasts (a query
    service on an empty in-memory Qdrant would answer every query with nothing, and never fall back), and
    for a service that only ``reads`` it, no local-mode folder that is not there."""
    from faro_workloads.contract.settings import FaroSettings
    from faro_workloads.services.stores import require_lasting_qdrant

    settings = FaroSettings()
    if needs_qdrant:
        require_lasting_qdrant(settings.qdrant, reads=reads)
    return settings


@serve.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen address (0.0.0.0 in a pod).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
def chunker(host: str, port: int) -> None:
    """The chunking service: documents API -> chunk objects in S3."""
    from faro_workloads.services import chunker as chunker_service

    with chunker_service.build(_settings()) as service:
        service.serve(host, port)


@serve.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen address (0.0.0.0 in a pod).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
def query(host: str, port: int) -> None:
    """The query service: /v1/query over Qdrant with pgvector fallback."""
    from faro_workloads.services import query as query_service

    with query_service.build(_settings(needs_qdrant=True, reads=True)) as service:
        service.serve(host, port)


@serve.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Health and metrics listener (0.0.0.0 in a pod)."
)
@click.option("--port", type=click.IntRange(0, 65535), default=9090, show_default=True)
@click.option(
    "--shutdown-grace",
    type=click.FloatRange(0, 3600),
    default=20.0,
    show_default=True,
    help="Seconds in-flight messages may take to finish on SIGTERM.",
)
def embedder(host: str, port: int, shutdown_grace: float) -> None:
    """The embedding engine: S3 events from SQS -> embeddings via Portkey -> PostgreSQL + Qdrant."""
    from faro_workloads.services import embedder as embedder_service

    with embedder_service.build(_settings(needs_qdrant=True)) as service:
        service.run(host, port, shutdown_grace_seconds=shutdown_grace)
