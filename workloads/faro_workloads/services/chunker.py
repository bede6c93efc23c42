"""The chunking service (``faro serve chunker``): the documents API whose documents go to S3 as chunk objects.

Upload -> extract text -> chunk -> one chunk object per document in S3 (skipped when the stored object has
the same content hash) -> 202. The ObjectCreated event carries the work on to the embedding engine.

A document's state (``GET /v1/documents/{id}``) is what S3 acknowledged weighed against what PostgreSQL holds
(:mod:`faro_workloads.core.document_state`): given a DSN (``FARO_POSTGRES__DSN``), the service reads the
collection's tables in read-only sessions; without one, an acknowledged document reads ``accepted``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI

from faro_workloads.api.app import build_api
from faro_workloads.api.auth import access_check
from faro_workloads.api.documents import documents_router
from faro_workloads.aws_resources import s3_client
from faro_workloads.contract.settings import FaroSettings
from faro_workloads.core.chunk_objects import ChunkObject, ChunkObjectLayout
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.document_state import DocumentStatus
from faro_workloads.core.document_status import DocumentStatuses
from faro_workloads.core.documents import (
    SourceText,
    content_hash,
    normalise_text,
    validate_doc_id,
)
from faro_workloads.core.embedding import Embedder, build_embedder
from faro_workloads.core.ingest import IncomingDocument, IngestResult
from faro_workloads.core.metrics import CHUNK_OBJECT_RESULTS, CHUNK_OBJECTS_WRITTEN, expose_label_values
from faro_workloads.core.stores.ports import DocumentEvidence
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.postgres.pool import PostgresPool
from faro_workloads.core.stores.s3_chunks import S3ChunkStore
from faro_workloads.core.text_extraction import UnsupportedDocument
from faro_workloads.errors import DependencyUnavailable, one_line
from faro_workloads.services.resources import HttpService, Resources

ENVELOPE_BYTES = 64 * 1024


class S3ChunkingBackend:
    """A DocumentBackend that chunks documents and hands them on through S3."""

    asynchronous = True

    def __init__(
        self, chunker: Chunker, store: S3ChunkStore, pipeline: str, evidence: DocumentEvidence | None = None
    ) -> None:
        self._chunker = chunker
        self._store = store
        self._pipeline = pipeline
        self._statuses = DocumentStatuses(evidence, store.acknowledgement)
        expose_label_values(CHUNK_OBJECTS_WRITTEN, CHUNK_OBJECT_RESULTS)

    def ingest(self, document: IncomingDocument) -> IngestResult:
        doc_id = validate_doc_id(document.doc_id)
        text = normalise_text(document.text)
        if not text.strip():
            raise UnsupportedDocument("document is empty")
        spans = self._chunker.chunk(text, document.fmt)
        if not spans:
            raise UnsupportedDocument("document has no text to index")
        digest = content_hash(text)
        chunk_object = ChunkObject(
            pipeline=self._pipeline,
            doc_id=doc_id,
            content_hash=digest,
            source=document.source,
            metadata=document.metadata,
            chunks=spans,
            chunking=self._chunker.identity,
            text=SourceText(text, document.fmt, digest),
        )
        with s3_answers():
            written = self._store.put_document(chunk_object, held_tenant=document.held_tenant)
        status = "accepted" if written else "unchanged"
        CHUNK_OBJECTS_WRITTEN.labels(status).inc()
        return IngestResult(doc_id, status, len(spans), digest, qdrant_synced=False)

    def delete(self, doc_id: str, held_tenant: str | None = None) -> bool:
        with s3_answers():
            return self._store.delete_document(validate_doc_id(doc_id), held_tenant=held_tenant)

    def get(self, doc_id: str) -> DocumentStatus | None:
        with s3_answers():
            return self._statuses.status(validate_doc_id(doc_id))

    def list(self, limit: int = 100, after: str | None = None) -> list[DocumentStatus]:
        with s3_answers():
            records = self._store.list_records(limit=limit, after=after)
            return self._statuses.listed(records, acknowledged=True)


class S3Unavailable(DependencyUnavailable):
    """S3 did not answer, or refused the service's own credentials: the caller may try again later."""

    dependency = "S3"


@contextmanager
def s3_answers() -> Iterator[None]:
    """botocore's failures (no connection, no credentials, an S3 5xx) as :class:`S3Unavailable`: a 503
    for the caller, not a 500. S3's own 4xx answers stay the store's to interpret."""
    try:
        yield
    except BotoCoreError as exc:
        raise S3Unavailable(f"S3 is unavailable: {one_line(exc)}") from exc
    except ClientError as exc:
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500) >= 500:
            raise S3Unavailable(f"S3 is unavailable: {one_line(exc)}") from exc
        raise


def build(settings: FaroSettings) -> HttpService:
    """The chunking app over an S3 client (settings must have the s3 section), and a read-only PostgreSQL
    pool when the settings name a DSN."""
    settings.require("s3")
    assert settings.s3 is not None
    with Resources().closed_on_error() as resources:
        evidence = None
        if "dsn" in settings.postgres.model_fields_set:
            pool = resources.add(PostgresPool(settings.postgres, settings.collection.name, read_only=True))
            evidence = PgVectorStore(settings.postgres, settings.collection, pool=pool)
        # The semantic strategy embeds sentences, through the same gateway as the embedder service.
        embedder = None
        if settings.chunking.strategy == "semantic":
            embedder = resources.add(build_embedder(settings.embedding))
        app = build_chunker_app(settings, s3_client(settings.s3), evidence, embedder)
    return HttpService(app, resources)


def build_chunker_app(
    settings: FaroSettings,
    s3: Any,
    evidence: DocumentEvidence | None = None,
    embedder: Embedder | None = None,
) -> FastAPI:
    """The chunking service's HTTP app over an S3 client (settings must have the s3 section); documents'
    states from ``evidence`` (PostgreSQL's side) when given; ``embedder`` for the semantic strategy."""
    settings.require("s3")
    assert settings.s3 is not None
    store = S3ChunkStore(s3, settings.s3.bucket, ChunkObjectLayout(settings.s3.prefix, settings.pipeline))
    chunker = Chunker(settings.chunking, embedder=embedder).prepare()
    backend = S3ChunkingBackend(chunker, store, settings.pipeline, evidence)
    access = access_check(settings.auth, "documents API", settings.pipeline)
    return build_api(
        title="Faro chunking service",
        routers=[documents_router(backend, settings.ingest, pipeline=settings.pipeline)],
        readiness={"s3": store.healthy},
        max_body_bytes=settings.ingest.max_body_bytes + ENVELOPE_BYTES,
        access=access,
        rate_limit=settings.auth.rate_limit,
    )
