"""The embedding engine (``faro serve embedder``): S3 events from SQS -> embeddings -> PostgreSQL + Qdrant.

It opens the stores, the embedder, the ingest path (with its outbox drainer) and the SQS worker, and serves
health and metrics; it answers no queries, so it builds no retriever.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from faro_workloads.api.app import build_api
from faro_workloads.aws_resources import s3_client, sqs_client
from faro_workloads.background_server import BackgroundServer
from faro_workloads.contract.settings import FaroSettings
from faro_workloads.core.chunk_objects import ChunkObjectLayout
from faro_workloads.core.embedding import build_embedder
from faro_workloads.core.extraction_pool import shared_pool
from faro_workloads.core.profile_runtime import gateway_embedder_factory
from faro_workloads.core.source_documents import SourceLayout
from faro_workloads.core.stores.s3_chunks import S3ChunkStore
from faro_workloads.core.stores.s3_sources import S3SourceDocuments
from faro_workloads.data_plane import IngestPath
from faro_workloads.embedder_worker import EmbedderWorker
from faro_workloads.services.resources import Resources, Service
from faro_workloads.services.stores import StoreAccess, Stores, open_stores
from faro_workloads.source_ingest import DocumentIngest, SourceIngest

HEALTH_BODY_LIMIT = 1024


@dataclass
class EmbedderService(Service):
    """The worker consuming the queue, over an ingest path whose drainer already runs."""

    worker: EmbedderWorker
    ingest_path: IngestPath
    health_app: FastAPI
    resources: Resources

    def run(self, host: str, port: int, shutdown_grace_seconds: float) -> None:
        """Serve health and metrics on ``host:port`` and consume until SIGTERM/SIGINT; in-flight messages
        get ``shutdown_grace_seconds`` to finish."""
        health = BackgroundServer(self.health_app, host, port)
        health.start()
        self.resources.add_closer("health server", health.stop)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.worker.stop())
        self.worker.run(shutdown_grace_seconds=shutdown_grace_seconds)


def build(settings: FaroSettings) -> EmbedderService:
    """The embedding engine from ``settings`` (which must have the s3 and sqs sections), its outbox drainer
    started; closing it stops the drainer and closes the embedder and the stores."""
    settings.require("s3", "sqs")
    assert settings.s3 is not None and settings.sqs is not None
    resources = Resources()
    with resources.closed_on_error():
        stores = resources.add(
            open_stores(
                settings.postgres, settings.qdrant, settings.collection, StoreAccess.SERVICE, settings.hnsw
            )
        )
        model = resources.add(build_embedder(settings.embedding))
        ingest_path = resources.add(
            IngestPath(
                stores.pg,
                stores.qdrant,
                model,
                settings.chunking,
                generations=settings.generations,
                build_embedder=gateway_embedder_factory(settings.embedding),
                query=settings.query,
            )
        )
        ingest_path.start_drainer()
        ingest_path.start_generations()
        sqs = sqs_client(settings.sqs)
        layout = ChunkObjectLayout(settings.s3.prefix, settings.pipeline)
        s3 = s3_client(settings.s3)
        chunk_store = S3ChunkStore(s3, settings.s3.bucket, layout)
        sources = source_ingest(settings, s3, ingest_path.ingest, resources)
        worker = EmbedderWorker(
            sqs, chunk_store, ingest_path.ingest, settings.sqs, failures=stores.pg, sources=sources
        )
        health_app = _health_app(stores, sqs, settings.sqs.queue_url, chunk_store)
    return EmbedderService(worker, ingest_path, health_app, resources)


def source_ingest(
    settings: FaroSettings, s3: Any, ingest: DocumentIngest, resources: Resources
) -> SourceIngest | None:
    """The bucket source's event handling when the settings name one (its text extraction pool closed with
    ``resources``)."""
    if settings.source_documents is None:
        return None
    assert settings.s3 is not None
    limits = settings.ingest
    layout = SourceLayout.of(settings.source_documents, settings.s3.bucket)
    pool = shared_pool(limits.extraction_workers)
    resources.add_closer("extraction pool", pool.close)
    return SourceIngest(
        S3SourceDocuments(s3, layout, limits.max_body_bytes),
        ingest,
        lambda data, fmt: pool.extract_blocking(data, fmt, limits),
    )


def _health_app(stores: Stores, sqs: Any, queue_url: str, chunk_store: S3ChunkStore) -> FastAPI:
    """Health and metrics; ready needs PostgreSQL and SQS (Qdrant and S3 are reported, not required)."""

    def sqs_ready() -> bool:
        sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        return True

    return build_api(
        "Faro embedding engine",
        [],
        {
            "postgres": stores.pg.healthy,
            "sqs": sqs_ready,
            "qdrant": stores.qdrant.healthy,
            "s3": chunk_store.healthy,
        },
        max_body_bytes=HEALTH_BODY_LIMIT,
        required_for_ready=frozenset({"postgres", "sqs"}),
    )
