"""``faro serve chunker|embedder|query``: the cluster services, configured from FARO_* variables."""

from __future__ import annotations

import logging
import signal

import click

from faro_workloads.cli import cli

log = logging.getLogger(__name__)


@cli.group()
def serve() -> None:
    """Run one of the cluster services (configuration from FARO_* environment variables)."""


def _settings():  # type: ignore[no-untyped-def]
    from faro_workloads.core.config import FaroSettings

    return FaroSettings()


@serve.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen address (0.0.0.0 in a pod).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
def chunker(host: str, port: int) -> None:
    """The chunking service: documents API -> chunk objects in S3."""
    from faro_workloads.aws_resources import s3_client
    from faro_workloads.background_server import GracefulServer, uvicorn_config
    from faro_workloads.chunker_service import build_chunker_app

    settings = _settings()
    settings.require("s3")
    app = build_chunker_app(settings, s3_client(settings.s3))
    GracefulServer(uvicorn_config(app, host, port)).run()


@serve.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Listen address (0.0.0.0 in a pod).")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True)
def query(host: str, port: int) -> None:
    """The query service: /v1/query over Qdrant with pgvector fallback."""
    from faro_workloads.background_server import GracefulServer, uvicorn_config
    from faro_workloads.core.embedding import build_embedder
    from faro_workloads.core.retrieval import Retriever
    from faro_workloads.query_service import build_query_app
    from faro_workloads.store_factory import open_stores

    settings = _settings()
    pg, qdrant = open_stores(settings)
    embedder = build_embedder(settings.embedding)
    retriever = Retriever(embedder, pg, qdrant, settings.query)
    try:
        GracefulServer(uvicorn_config(build_query_app(settings, retriever, pg, qdrant), host, port)).run()
    finally:
        retriever.close()
        embedder.close()
        qdrant.close()
        pg.close()


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
    from faro_workloads.api.app import build_api
    from faro_workloads.aws_resources import s3_client, sqs_client
    from faro_workloads.background_server import BackgroundServer
    from faro_workloads.core.chunk_objects import ChunkObjectLayout
    from faro_workloads.core.embedding import build_embedder
    from faro_workloads.core.stores.s3_chunks import S3ChunkStore
    from faro_workloads.data_plane import DataPlane
    from faro_workloads.embedder_worker import EmbedderWorker
    from faro_workloads.store_factory import open_stores

    settings = _settings()
    settings.require("s3", "sqs")
    assert settings.s3 is not None and settings.sqs is not None
    pg, qdrant = open_stores(settings)
    model = build_embedder(settings.embedding)
    plane = DataPlane(pg, qdrant, model, chunking=settings.chunking, query=settings.query)
    plane.start_drainer()
    sqs = sqs_client(settings.sqs)
    store = S3ChunkStore(
        s3_client(settings.s3), settings.s3.bucket, ChunkObjectLayout(settings.s3.prefix, settings.pipeline)
    )
    worker = EmbedderWorker(sqs, store, plane.ingest, settings.sqs)
    queue_url = settings.sqs.queue_url

    def sqs_ready() -> bool:
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        return True

    health = BackgroundServer(
        build_api(
            "Faro embedding engine",
            [],
            {
                "postgres": pg.healthy,
                "sqs": sqs_ready,
                "qdrant": qdrant.healthy,
                "s3": store.healthy,
            },
            max_body_bytes=1024,
            required_for_ready=frozenset({"postgres", "sqs"}),
        ),
        host,
        port,
    )
    health.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stop())
    try:
        worker.run(shutdown_grace_seconds=shutdown_grace)
    finally:
        health.stop()
        plane.close()
        model.close()
        qdrant.close()
        pg.close()
