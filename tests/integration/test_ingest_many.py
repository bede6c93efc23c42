"""IngestService.ingest_many: batches chunked, committed to PostgreSQL and synced to Qdrant in a pipeline.

Real PostgreSQL (pgserver), Qdrant local mode, the real chunker (characters) and the hashing embedder.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

import pytest

from faro_workloads.contract.settings import ChunkingConfig
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.documents import Chunk, DocumentRecord, SourceText
from faro_workloads.core.dual_writer import DualWriter
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.ingest import FIRST_BATCH_CHUNKS, IncomingDocument, IngestService
from faro_workloads.core.outbox import OutboxDrainer
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

pytestmark = pytest.mark.integration

WORDS = ["river", "stone", "lantern", "orchard", "copper", "meadow", "harbour", "violet", "thunder", "garden"]


class RecordingWriter(DualWriter):
    """A real DualWriter that also records the chunks of each committed batch, by its first document."""

    def __init__(self, pg: PgVectorStore, qdrant: QdrantStore) -> None:
        super().__init__(pg, qdrant, OutboxDrainer(pg, qdrant))
        self._committed: dict[str, int] = {}

    def commit_documents(
        self,
        documents: Sequence[tuple[DocumentRecord, list[Chunk]]],
        texts: Mapping[str, SourceText] | None = None,
    ) -> dict[str, list[uuid.UUID]]:
        queued = super().commit_documents(documents, texts)
        self._committed[documents[0][0].doc_id] = sum(len(chunks) for _, chunks in documents)
        return queued

    @property
    def committed(self) -> list[int]:
        """Chunks per committed batch, in the batches' order (doc_ids sort in input order here; concurrent
        commits may finish in any order)."""
        return [self._committed[doc_id] for doc_id in sorted(self._committed)]


def _document(number: int, version: int = 0, paragraphs: int = 5) -> IncomingDocument:
    text = "\n\n".join(
        " ".join(WORDS[(number + version + p + w) % len(WORDS)] for w in range(40))
        + f" doc{number} v{version}"
        for p in range(paragraphs)
    )
    return IncomingDocument(doc_id=f"doc-{number:03d}", text=text, source="test", metadata={"n": number})


def _service(pg: PgVectorStore, qdrant: QdrantStore) -> tuple[IngestService, RecordingWriter]:
    writer = RecordingWriter(pg, qdrant)
    chunker = Chunker(ChunkingConfig(strategy="recursive", size=64, overlap=8, tokenizer="chars"))
    embedder = HashingEmbedder(dimension=pg.collection.dimension)
    return IngestService(chunker, embedder, pg, writer), writer


def test_batches_grow_and_results_come_in_input_order(
    pg_store: PgVectorStore, qdrant_store: QdrantStore, assert_stores_equal
) -> None:
    service, writer = _service(pg_store, qdrant_store)
    documents = [_document(n) for n in range(120)]

    results = list(service.ingest_many(documents, batch_chunks=4 * FIRST_BATCH_CHUNKS))

    assert [r.doc_id for r in results] == [d.doc_id for d in documents]
    assert {r.status for r in results} == {"created"} and all(r.qdrant_synced for r in results)
    chunks = sum(r.chunks for r in results)
    assert chunks > 8 * FIRST_BATCH_CHUNKS and sum(writer.committed) == chunks
    # Batches start small and double up to batch_chunks (a batch closes on the document that fills it).
    sizes = writer.committed
    assert FIRST_BATCH_CHUNKS <= sizes[0] < 2 * FIRST_BATCH_CHUNKS
    assert 2 * FIRST_BATCH_CHUNKS <= sizes[1] < 3 * FIRST_BATCH_CHUNKS
    assert all(4 * FIRST_BATCH_CHUNKS <= size < 5 * FIRST_BATCH_CHUNKS for size in sizes[3:-1])
    assert pg_store.count() == qdrant_store.count() == chunks and pg_store.outbox_pending() == 0
    assert_stores_equal(pg_store, qdrant_store)

    # Again, with every third document changed: unchanged ones are skipped, changed ones replaced.
    again = [_document(n, version=1, paragraphs=2) if n % 3 == 0 else _document(n) for n in range(120)]
    results = list(service.ingest_many(again, batch_chunks=FIRST_BATCH_CHUNKS))
    assert [r.doc_id for r in results] == [d.doc_id for d in again]
    assert [r.status for r in results] == ["replaced" if n % 3 == 0 else "unchanged" for n in range(120)]
    assert pg_store.count() == qdrant_store.count() == sum(r.chunks for r in results)
    assert pg_store.outbox_pending() == 0
    assert_stores_equal(pg_store, qdrant_store)


def test_a_bad_document_stops_the_batches_after_the_ones_written(
    pg_store: PgVectorStore, qdrant_store: QdrantStore, assert_stores_equal
) -> None:
    service, writer = _service(pg_store, qdrant_store)
    documents = [_document(n) for n in range(80)]
    documents.insert(70, _document(3))  # doc-003 a second time, late in the run

    received = []
    with pytest.raises(ValueError, match="given twice"):
        for result in service.ingest_many(documents, batch_chunks=FIRST_BATCH_CHUNKS):
            received.append(result.doc_id)

    # What was written is whole batches of the documents before the bad one, in both stores; every result
    # handed out is among them, and nothing after the bad document was touched.
    stored = {record.doc_id for record in pg_store.list_documents(limit=200)}
    assert len(writer.committed) >= 2
    assert stored == {d.doc_id for d in documents[: len(stored)]}
    assert len(stored) < 70 and set(received) <= stored
    assert pg_store.count() == sum(writer.committed) == qdrant_store.count()
    assert pg_store.outbox_pending() == 0
    assert_stores_equal(pg_store, qdrant_store)


def test_qdrant_down_keeps_every_batch_in_the_outbox(
    pg_store: PgVectorStore, qdrant_store: QdrantStore, dead_qdrant_store: QdrantStore, assert_stores_equal
) -> None:
    service, writer = _service(pg_store, dead_qdrant_store)
    documents = [_document(n) for n in range(40)]

    results = list(service.ingest_many(documents, batch_chunks=FIRST_BATCH_CHUNKS))

    assert [r.doc_id for r in results] == [d.doc_id for d in documents]
    assert not any(r.qdrant_synced for r in results) and len(writer.committed) >= 2
    assert pg_store.outbox_pending() == pg_store.count() == sum(r.chunks for r in results)

    assert OutboxDrainer(pg_store, qdrant_store).drain() == pg_store.count()
    assert pg_store.outbox_pending() == 0
    assert_stores_equal(pg_store, qdrant_store)
