"""Ingest: a document's canonical text -> chunks -> embeddings -> dual write through the outbox.

Same id + same content hash + same metadata + same index profile is skipped (no embedding spent); same id
+ a new hash, new metadata (the chunks carry it, for filters and their context) or a new profile (another
model or chunking, :mod:`faro_workloads.contract.index_profile`) replaces the document's chunks atomically
in Postgres (the outbox carries the change to Qdrant; the embedding cache spares the model the chunks whose
text is the same); delete removes it from both.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any, Literal, TypeGuard

from faro_workloads.contract.access import TENANT_KEY
from faro_workloads.contract.index_profile import ChunkingIdentity, IndexProfile
from faro_workloads.core.batch_pipeline import pipelined
from faro_workloads.core.chunk_building import build_chunks, embed_spans
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.document_errors import DocumentIdTaken, Superseded
from faro_workloads.core.documents import (
    Chunk,
    ChunkSpan,
    DocumentRecord,
    SourceText,
    content_hash,
    normalise_text,
    validate_doc_id,
)
from faro_workloads.core.dual_writer import DualWriter, WriteResult
from faro_workloads.core.embedding import Embedder
from faro_workloads.core.metrics import (
    CHUNKS_WRITTEN,
    DOCUMENT_RESULTS,
    DOCUMENTS_INGESTED,
    expose_label_values,
)
from faro_workloads.core.stores.ports import DocumentCatalog
from faro_workloads.core.text_extraction import SourceFormat, UnsupportedDocument

log = logging.getLogger(__name__)

# Documents whose stored records are looked up with one query, in ingest_many.
LOOKUP_GROUP = 64
# ingest_many's first batch, in chunks; each next one is twice as large, up to its batch_chunks.
FIRST_BATCH_CHUNKS = 64
# PostgreSQL transactions ingest_many runs at once (each batch is one).
CONCURRENT_COMMITS = 2

IngestStatus = Literal["created", "replaced", "unchanged", "accepted"]


@dataclass(frozen=True, slots=True)
class IncomingDocument:
    """A document ready to ingest: its canonical (already extracted) text and where it came from."""

    doc_id: str
    text: str
    source: str
    fmt: SourceFormat = "text"
    metadata: dict[str, Any] = field(default_factory=dict)
    source_etag: str = ""
    """The S3 ETag of the object the document was read from (a bucket source), else ""."""
    held_tenant: str | None = None
    """The tenant the uploader is held to: the document may only replace one of that tenant's."""


@dataclass(frozen=True, slots=True)
class IngestResult:
    doc_id: str
    status: IngestStatus
    chunks: int
    content_hash: str
    qdrant_synced: bool


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A document chunked and embedded, ready to write."""

    record: DocumentRecord
    chunks: list[Chunk]
    status: IngestStatus
    text: SourceText | None


def _texts(prepared: Iterable[_Prepared]) -> dict[str, SourceText]:
    """The extracted texts to keep with ``prepared`` documents, by doc_id."""
    return {item.record.doc_id: item.text for item in prepared if item.text is not None}


def _unchanged(
    existing: DocumentRecord | None, digest: str, metadata: dict[str, Any], fingerprint: str
) -> TypeGuard[DocumentRecord]:
    """Whether the stored document has this content and this metadata AND was indexed with this profile
    (nothing to do)."""
    return (
        existing is not None
        and existing.content_hash == digest
        and existing.metadata == metadata
        and existing.profile == fingerprint
    )


def _groups(items: Iterable[IncomingDocument], size: int) -> Iterator[list[IncomingDocument]]:
    iterator = iter(items)
    while group := list(islice(iterator, size)):
        yield group


class IngestService:
    """Turns documents into chunks in both stores; the one place that decides skip/replace."""

    asynchronous = False  # documents are stored when ingest returns

    def __init__(self, chunker: Chunker, embedder: Embedder, pg: DocumentCatalog, writer: DualWriter) -> None:
        self._chunker = chunker
        self._embedder = embedder
        self._pg = pg
        self._writer = writer
        self.profile = IndexProfile.current(embedder.identity, chunker.identity)
        """The index profile of what :meth:`ingest` stores (its chunker's and embedder's)."""
        expose_label_values(DOCUMENTS_INGESTED, DOCUMENT_RESULTS)

    @property
    def chunker(self) -> Chunker:
        return self._chunker

    def ingest(self, document: IncomingDocument) -> IngestResult:
        """Chunk, embed and store a document (skipped when its content and metadata are unchanged)."""
        existing = self._pg.get_document(validate_doc_id(document.doc_id))
        prepared = self._prepare_document(document, existing)
        return prepared if isinstance(prepared, IngestResult) else self._write([prepared])[0]

    def ingest_many(
        self,
        documents: Iterable[IncomingDocument],
        batch_chunks: int = 512,
        on_error: Callable[[IncomingDocument, ValueError], None] | None = None,
    ) -> Iterator[IngestResult]:
        """Ingest documents like :meth:`ingest`, in batches of ~``batch_chunks`` chunks; results in order.

        Each batch is one Postgres transaction (one COPY) and one outbox drain (full Qdrant batches). Batches
        go through :func:`pipelined`: the next ones are chunked and embedded on the caller's thread while
        earlier ones are committed to Postgres, :data:`CONCURRENT_COMMITS` transactions at once (PostgreSQL
        maintains the HNSW index of each on its own CPU), and synced to Qdrant on another thread, so the
        stores' work overlaps the CPU work. The first batches are small (:data:`FIRST_BATCH_CHUNKS`, doubling
        up to ``batch_chunks``) so that the stores start early. A batch never holds the same document twice
        and a document is in one batch only, so concurrent transactions never touch the same rows.

        When a batch fails to commit, the batches not yet started are not committed (one already under way
        may be). Raises like :meth:`ingest` on a bad document (or a doc_id given twice), after the batches
        before it were written; with ``on_error``, such a document (bad doc_id, no text, given twice) is
        handed to it instead, gets no result, and the others go on.
        """
        return pipelined(
            self._prepared_batches(documents, batch_chunks, on_error),
            self._commit_batch,
            self._sync_batch,
            queued_commits=CONCURRENT_COMMITS + 1,
            committers=CONCURRENT_COMMITS,
        )

    def _commit_batch(self, batch: list[IngestResult | _Prepared]) -> dict[str, list[uuid.UUID]]:
        """Commit a batch's new and changed documents to Postgres (raises on failure): their queued points."""
        prepared = [item for item in batch if isinstance(item, _Prepared)]
        documents = [(item.record, item.chunks) for item in prepared]
        return self._writer.commit_documents(documents, _texts(prepared)) if documents else {}

    def _sync_batch(
        self, batch: list[IngestResult | _Prepared], queued: dict[str, list[uuid.UUID]]
    ) -> list[IngestResult]:
        """Sync a committed batch to Qdrant (never raises); one result per document of the batch."""
        prepared = [item for item in batch if isinstance(item, _Prepared)]
        documents = [(item.record, item.chunks) for item in prepared]
        synced = self._writer.sync_documents(documents, queued) if documents else []
        written = iter(self._results(prepared, synced))
        return [item if isinstance(item, IngestResult) else next(written) for item in batch]

    def _prepared_batches(
        self,
        documents: Iterable[IncomingDocument],
        batch_chunks: int,
        on_error: Callable[[IncomingDocument, ValueError], None] | None,
    ) -> Iterator[list[IngestResult | _Prepared]]:
        def reject(document: IncomingDocument, error: ValueError) -> None:
            if on_error is None:
                raise error
            on_error(document, error)

        batch: list[IngestResult | _Prepared] = []
        chunks = 0
        target = min(batch_chunks, FIRST_BATCH_CHUNKS)
        seen: set[str] = set()
        for group in _groups(documents, LOOKUP_GROUP):
            valid: list[IncomingDocument] = []
            for document in group:
                try:
                    if validate_doc_id(document.doc_id) in seen:
                        raise ValueError(f"document {document.doc_id!r} given twice")
                except ValueError as error:
                    reject(document, error)
                    continue
                seen.add(document.doc_id)
                valid.append(document)
            known = self._pg.get_documents([document.doc_id for document in valid]) if valid else {}
            for document in valid:
                try:
                    prepared = self._prepare_document(document, known.get(document.doc_id))
                except UnsupportedDocument as error:
                    reject(document, error)
                    continue
                batch.append(prepared)
                chunks += 0 if isinstance(prepared, IngestResult) else len(prepared.chunks)
                if chunks >= target:
                    yield batch
                    batch, chunks, target = [], 0, min(batch_chunks, target * 2)
        if batch:
            yield batch

    def _prepare_document(
        self, document: IncomingDocument, existing: DocumentRecord | None
    ) -> IngestResult | _Prepared:
        """``document`` chunked and embedded, or its "unchanged" result (``existing``: its stored record)."""
        doc_id = validate_doc_id(document.doc_id)
        text = normalise_text(document.text)
        if not text.strip():
            raise UnsupportedDocument("document is empty")
        digest = content_hash(text)
        held = document.held_tenant
        if held is not None and existing is not None and existing.metadata.get(TENANT_KEY) != held:
            raise DocumentIdTaken(doc_id)  # another tenant's (or no tenant's): not even "unchanged"
        if _unchanged(existing, digest, document.metadata, self.profile.fingerprint):
            return self._unchanged(existing, document.source_etag)
        spans = self._chunker.chunk(text, document.fmt)
        kept = SourceText(text, document.fmt, digest)
        return self._prepare(
            doc_id,
            digest,
            kept,
            self.profile,
            document.source,
            document.metadata,
            spans,
            existing,
            document.source_etag,
            held,
        )

    def ingest_chunks(
        self,
        doc_id: str,
        digest: str,
        source: str,
        metadata: dict[str, Any],
        spans: list[ChunkSpan],
        chunking: ChunkingIdentity | None = None,
        text: SourceText | None = None,
        source_etag: str = "",
        still_current: Callable[[], bool] | None = None,
    ) -> IngestResult:
        """Embed and store a document someone else chunked (the cluster's chunking service), as
        ``chunking`` says it was cut (this service's own chunking when not said), keeping its extracted
        ``text`` when given (its content hash must be ``digest``) and the ETag of the object it was read
        from (recorded even when the content is unchanged: the census compares it with a listing).

        ``still_current`` (given for a version read elsewhere, after it was read) is asked once the chunks
        are embedded (which takes the time), right before the write: False raises :class:`Superseded` and
        nothing is written (a version replaced or deleted while it was embedded would otherwise be
        searchable until its successor is applied). A delete of the document applied after that check (by
        another replica, from the tombstone) makes the write's transaction raise :class:`Superseded` too:
        the deletions PostgreSQL knew before the check are what the transaction compares."""
        if text is not None and text.content_hash != digest:
            raise ValueError(f"the text given for {doc_id!r} is not the content {digest!r}")
        doc_id = validate_doc_id(doc_id)
        existing = self._pg.get_document(doc_id)
        profile = self.profile if chunking is None else self.profile.model_copy(update={"chunking": chunking})
        if _unchanged(existing, digest, metadata, profile.fingerprint):
            return self._unchanged(existing, source_etag)
        deletions_seen = None
        if still_current is not None:
            deletions_seen = {doc_id: self._pg.deletions([doc_id]).get(doc_id)}
        prepared = self._prepare(
            doc_id, digest, text, profile, source, metadata, spans, existing, source_etag
        )
        if still_current is not None and not still_current():
            raise Superseded(f"{doc_id} changed while it was embedded")
        return self._write([prepared], deletions_seen)[0]

    def _unchanged(self, existing: DocumentRecord, source_etag: str = "") -> IngestResult:
        """The result of a document stored already; it was read again from an object with ETag
        ``source_etag`` (recorded when it differs: the census compares it with a listing)."""
        if source_etag and existing.source_etag != source_etag:
            self._pg.set_source_etag(existing.doc_id, source_etag)
        DOCUMENTS_INGESTED.labels("unchanged").inc()
        return IngestResult(
            existing.doc_id, "unchanged", existing.chunk_count, existing.content_hash, qdrant_synced=True
        )

    def _prepare(
        self,
        doc_id: str,
        digest: str,
        text: SourceText | None,
        profile: IndexProfile,
        source: str,
        metadata: dict[str, Any],
        spans: list[ChunkSpan],
        existing: DocumentRecord | None,
        source_etag: str = "",
        held_tenant: str | None = None,
    ) -> _Prepared:
        if not spans:
            raise UnsupportedDocument("document has no text to index")
        vectors, contexts = embed_spans(self._embedder, spans, metadata, profile.chunking.embeds_context)
        chunks = build_chunks(doc_id, digest, metadata, spans, vectors, self._embedder.model, contexts)
        record = DocumentRecord(
            doc_id=doc_id,
            content_hash=digest,
            source=source,
            chunk_count=len(chunks),
            metadata=metadata,
            updated_at=datetime.now(UTC),
            profile=profile.fingerprint,
            source_etag=source_etag,
            held_tenant=held_tenant,
        )
        return _Prepared(record, chunks, "created" if existing is None else "replaced", text)

    def _write(
        self, prepared: list[_Prepared], deletions_seen: dict[str, datetime | None] | None = None
    ) -> list[IngestResult]:
        """Store prepared documents (one transaction and one Qdrant sync for all of them); ``deletions_seen``
        as :meth:`DualWriter.write_documents` says."""
        if not prepared:
            return []
        written = self._writer.write_documents(
            [(p.record, p.chunks) for p in prepared], _texts(prepared), deletions_seen
        )
        return self._results(prepared, written)

    @staticmethod
    def _results(prepared: list[_Prepared], written: list[WriteResult]) -> list[IngestResult]:
        """One result per written document (and its metrics and log line)."""
        out = []
        for item, result in zip(prepared, written, strict=True):
            doc_id, chunks = item.record.doc_id, len(item.chunks)
            DOCUMENTS_INGESTED.labels(item.status).inc()
            CHUNKS_WRITTEN.inc(chunks)
            log.info("ingested %s: %s, %d chunks", doc_id, item.status, chunks)
            out.append(
                IngestResult(doc_id, item.status, chunks, item.record.content_hash, result.qdrant_synced)
            )
        return out

    def delete(self, doc_id: str, held_tenant: str | None = None, acknowledged: bool = False) -> bool:
        """Remove a document from both stores; False when it is unknown (or, with ``held_tenant``, another
        tenant's). ``acknowledged``: a delete answered elsewhere (a tombstone), noted even when unknown."""
        result = self._writer.delete_document(validate_doc_id(doc_id), held_tenant, acknowledged)
        if result is None:
            return False
        DOCUMENTS_INGESTED.labels("deleted").inc()
        return True

    def get(self, doc_id: str) -> DocumentRecord | None:
        return self._pg.get_document(validate_doc_id(doc_id))

    def list(self, limit: int = 100, after: str | None = None) -> list[DocumentRecord]:
        return self._pg.list_documents(limit=limit, after=after)
