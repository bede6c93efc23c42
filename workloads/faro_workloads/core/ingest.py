"""Ingest: a document's canonical text -> chunks -> embeddings -> dual write through the outbox.

Same id + same content hash is skipped (no embedding spent); same id + new hash replaces the document's
chunks atomically in Postgres (the outbox carries the change to Qdrant); delete removes it from both.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from faro_workloads.core.chunking import Chunker
from faro_workloads.core.documents import (
    Chunk,
    ChunkSpan,
    DocumentRecord,
    content_hash,
    normalise_text,
    validate_doc_id,
)
from faro_workloads.core.dual_writer import DualWriter
from faro_workloads.core.embedding import Embedder
from faro_workloads.core.metrics import (
    CHUNKS_WRITTEN,
    DOCUMENT_RESULTS,
    DOCUMENTS_INGESTED,
    expose_label_values,
)
from faro_workloads.core.stores.pgvector import PgVectorStore
from faro_workloads.core.text_extraction import SourceFormat, UnsupportedDocument

log = logging.getLogger(__name__)

IngestStatus = Literal["created", "replaced", "unchanged", "accepted"]


@dataclass(frozen=True, slots=True)
class IncomingDocument:
    """A document ready to ingest: its canonical (already extracted) text and where it came from."""

    doc_id: str
    text: str
    source: str
    fmt: SourceFormat = "text"
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IngestResult:
    doc_id: str
    status: IngestStatus
    chunks: int
    content_hash: str
    qdrant_synced: bool


class IngestService:
    """Turns documents into chunks in both stores; the one place that decides skip/replace."""

    asynchronous = False  # documents are stored when ingest returns

    def __init__(self, chunker: Chunker, embedder: Embedder, pg: PgVectorStore, writer: DualWriter) -> None:
        self._chunker = chunker
        self._embedder = embedder
        self._pg = pg
        self._writer = writer
        expose_label_values(DOCUMENTS_INGESTED, DOCUMENT_RESULTS)

    def ingest(self, document: IncomingDocument) -> IngestResult:
        """Chunk, embed and store a document (skipped when its content is unchanged)."""
        doc_id = validate_doc_id(document.doc_id)
        text = normalise_text(document.text)
        if not text.strip():
            raise UnsupportedDocument("document is empty")
        digest = content_hash(text)
        existing = self._pg.get_document(doc_id)
        if existing is not None and existing.content_hash == digest:
            return self._unchanged(existing)
        spans = self._chunker.chunk(text, document.fmt)
        return self._store(doc_id, digest, document.source, document.metadata, spans, existing)

    def ingest_chunks(
        self,
        doc_id: str,
        digest: str,
        source: str,
        metadata: dict[str, Any],
        spans: list[ChunkSpan],
    ) -> IngestResult:
        """Embed and store a document someone else chunked (the cluster's chunking service)."""
        doc_id = validate_doc_id(doc_id)
        existing = self._pg.get_document(doc_id)
        if existing is not None and existing.content_hash == digest:
            return self._unchanged(existing)
        return self._store(doc_id, digest, source, metadata, spans, existing)

    @staticmethod
    def _unchanged(existing: DocumentRecord) -> IngestResult:
        DOCUMENTS_INGESTED.labels("unchanged").inc()
        return IngestResult(
            existing.doc_id, "unchanged", existing.chunk_count, existing.content_hash, qdrant_synced=True
        )

    def _store(
        self,
        doc_id: str,
        digest: str,
        source: str,
        metadata: dict[str, Any],
        spans: list[ChunkSpan],
        existing: DocumentRecord | None,
    ) -> IngestResult:
        if not spans:
            raise UnsupportedDocument("document has no text to index")
        vectors = self._embedder.embed([span.text for span in spans])
        chunks = [
            Chunk(
                doc_id=doc_id,
                seq=seq,
                text=span.text,
                start=span.start,
                end=span.end,
                metadata={**span.metadata, **metadata},
                content_hash=digest,
                model=self._embedder.model,
                embedding=vector,
            )
            for seq, (span, vector) in enumerate(zip(spans, vectors, strict=True))
        ]
        record = DocumentRecord(
            doc_id=doc_id,
            content_hash=digest,
            source=source,
            chunk_count=len(chunks),
            metadata=metadata,
            updated_at=datetime.now(UTC),
        )
        result = self._writer.write_document(record, chunks)
        status: IngestStatus = "created" if existing is None else "replaced"
        DOCUMENTS_INGESTED.labels(status).inc()
        CHUNKS_WRITTEN.inc(len(chunks))
        log.info("ingested %s: %s, %d chunks", doc_id, status, len(chunks))
        return IngestResult(doc_id, status, len(chunks), digest, qdrant_synced=result.qdrant_synced)

    def delete(self, doc_id: str) -> bool:
        """Remove a document from both stores; False when it is unknown."""
        result = self._writer.delete_document(validate_doc_id(doc_id))
        if result is None:
            return False
        DOCUMENTS_INGESTED.labels("deleted").inc()
        return True

    def get(self, doc_id: str) -> DocumentRecord | None:
        return self._pg.get_document(validate_doc_id(doc_id))

    def list(self, limit: int = 100, after: str | None = None) -> list[DocumentRecord]:
        return self._pg.list_documents(limit=limit, after=after)
