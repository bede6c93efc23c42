"""Ingest's decisions over in-memory stores: created, unchanged (nothing embedded or written), replaced
(stale chunks gone from both stores), deleted, and what a Qdrant or PostgreSQL outage leaves behind.

The real ingest service, dual writer and outbox drainer run over the fakes of their store ports; the
adapters themselves are tested against real stores in tests/integration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import psycopg
import pytest

from faro_workloads.contract.settings import ChunkingConfig
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.documents import ChunkSpan, SourceText, content_hash
from faro_workloads.core.dual_writer import DualWriter
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.ingest import IncomingDocument, IngestService
from faro_workloads.core.outbox import OutboxDrainer

from support.fake_stores import FakePostgres, FakeQdrant

DIMENSION = 32
LONG = (
    "Faro keeps documents in PostgreSQL. Qdrant holds a copy for fast search. "
    "The outbox carries every change from one store to the other. A drainer applies it in batches. "
    "Queries go to Qdrant first and fall back to PostgreSQL when Qdrant is slow or down."
)
SHORT = "Faro keeps documents in PostgreSQL. Nothing else is said here."
LINES = LONG.replace(". ", ".\n")  # one sentence a line


class CountingEmbedder(HashingEmbedder):
    """The hashing embedder, counting the texts it was asked to embed."""

    def __init__(self) -> None:
        super().__init__(dimension=DIMENSION)
        self.texts = 0

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        self.texts += len(texts)
        return super()._embed_batch(texts)


@dataclass
class Plane:
    pg: FakePostgres
    qdrant: FakeQdrant
    embedder: CountingEmbedder
    drainer: OutboxDrainer
    ingest: IngestService

    def chunk_texts(self, doc_id: str) -> list[str]:
        """The texts of ``doc_id``'s chunks in Postgres, in seq order."""
        chunks = sorted((c for c in self.pg.chunks.values() if c.doc_id == doc_id), key=lambda c: c.seq)
        return [chunk.text for chunk in chunks]

    def assert_qdrant_mirrors_postgres(self) -> None:
        assert self.qdrant.points == self.pg.chunks
        assert self.pg.outbox == []


@pytest.fixture
def plane() -> Plane:
    pg, qdrant, embedder = FakePostgres(), FakeQdrant(), CountingEmbedder()
    drainer = OutboxDrainer(pg, qdrant)
    chunker = Chunker(ChunkingConfig(tokenizer="chars", size=16, overlap=0))
    ingest = IngestService(chunker, embedder, pg, DualWriter(pg, qdrant, drainer))
    return Plane(pg, qdrant, embedder, drainer, ingest)


def _document(doc_id: str, text: str) -> IncomingDocument:
    return IncomingDocument(doc_id=doc_id, text=text, source="unit-test")


def test_a_new_document_is_created_in_both_stores(plane: Plane) -> None:
    result = plane.ingest.ingest(_document("guide", LONG))

    assert (result.status, result.qdrant_synced) == ("created", True)
    assert result.chunks == len(plane.chunk_texts("guide")) > 1
    assert result.content_hash == content_hash(LONG) == plane.pg.documents["guide"].content_hash
    plane.assert_qdrant_mirrors_postgres()


def test_ingest_keeps_each_documents_text_and_a_delete_removes_it(plane: Plane) -> None:
    plane.ingest.ingest(IncomingDocument(doc_id="guide", text="\ufeff" + LINES, source="s", fmt="markdown"))
    assert plane.pg.texts["guide"] == SourceText(LINES, "markdown", content_hash(LINES))  # the canonical text

    plane.ingest.delete("guide")
    assert plane.pg.texts == {}


@pytest.mark.parametrize(
    "again",
    [LINES, LINES.replace("\n", "\r\n"), "\ufeff" + LINES],
    ids=["same-text", "crlf-line-ends", "byte-order-mark"],
)
def test_the_same_content_again_is_unchanged_and_neither_embedded_nor_written(
    plane: Plane, again: str
) -> None:
    first = plane.ingest.ingest(_document("guide", LINES))
    before = (plane.embedder.texts, plane.pg.commits, dict(plane.pg.chunks))

    result = plane.ingest.ingest(_document("guide", again))

    assert (result.status, result.chunks, result.content_hash) == (
        "unchanged",
        first.chunks,
        first.content_hash,
    )
    assert (plane.embedder.texts, plane.pg.commits, plane.pg.chunks) == before  # nothing embedded or written


def test_new_content_replaces_the_document_and_its_stale_chunks_leave_both_stores(plane: Plane) -> None:
    plane.ingest.ingest(_document("guide", LONG))
    old_chunks = plane.chunk_texts("guide")

    result = plane.ingest.ingest(_document("guide", SHORT))

    assert result.status == "replaced"
    assert result.chunks == len(plane.chunk_texts("guide")) < len(old_chunks)
    assert "".join(plane.chunk_texts("guide")).replace(" ", "") == SHORT.replace(" ", "")
    assert plane.pg.documents["guide"].content_hash == content_hash(SHORT)
    plane.assert_qdrant_mirrors_postgres()


def test_new_metadata_for_the_same_text_replaces_the_chunks_metadata_in_both_stores(plane: Plane) -> None:
    """Filters read the chunks' metadata: a re-upload that only changes it is not "unchanged"."""
    plane.ingest.ingest(IncomingDocument("guide", LONG, "unit-test", metadata={"team": "a"}))

    relabelled = plane.ingest.ingest(IncomingDocument("guide", LONG, "unit-test", metadata={"team": "b"}))
    again = plane.ingest.ingest(IncomingDocument("guide", LONG, "unit-test", metadata={"team": "b"}))

    assert (relabelled.status, again.status) == ("replaced", "unchanged")
    assert plane.pg.documents["guide"].metadata == {"team": "b"}
    assert {chunk.metadata["team"] for chunk in plane.pg.chunks.values()} == {"b"}
    plane.assert_qdrant_mirrors_postgres()
    spans = [ChunkSpan(text="first part", start=0, end=10)]
    plane.ingest.ingest_chunks("cut", "digest-1", "s3", {"team": "a"}, spans)
    assert plane.ingest.ingest_chunks("cut", "digest-1", "s3", {"team": "b"}, spans).status == "replaced"


def test_delete_removes_a_document_from_both_stores_and_an_unknown_one_is_false(plane: Plane) -> None:
    plane.ingest.ingest(_document("guide", LONG))
    plane.ingest.ingest(_document("other", SHORT))

    assert plane.ingest.delete("guide") is True
    assert plane.ingest.delete("guide") is False
    assert plane.ingest.delete("never-seen") is False

    assert plane.ingest.get("guide") is None
    assert plane.chunk_texts("guide") == []
    assert {chunk.doc_id for chunk in plane.qdrant.points.values()} == {"other"}
    plane.assert_qdrant_mirrors_postgres()


def test_with_qdrant_down_the_write_commits_and_the_outbox_keeps_the_qdrant_work(plane: Plane) -> None:
    plane.qdrant.failure = ConnectionError("qdrant refused the connection")

    result = plane.ingest.ingest(_document("guide", LONG))

    assert (result.status, result.qdrant_synced) == ("created", False)
    assert len(plane.pg.outbox) == result.chunks == len(plane.pg.chunks)
    assert plane.qdrant.points == {}

    plane.qdrant.failure = None
    assert plane.drainer.drain() == result.chunks
    plane.assert_qdrant_mirrors_postgres()


def test_with_postgres_down_ingest_raises_and_nothing_reaches_qdrant(plane: Plane) -> None:
    plane.pg.failure = psycopg.OperationalError("connection refused")

    with pytest.raises(psycopg.OperationalError):
        plane.ingest.ingest(_document("guide", LONG))

    assert plane.qdrant.points == {}
    assert plane.embedder.texts == 0


def test_ingest_chunks_skips_a_known_content_hash_without_embedding(plane: Plane) -> None:
    spans = [ChunkSpan(text="first part", start=0, end=10), ChunkSpan(text="second part", start=11, end=22)]
    created = plane.ingest.ingest_chunks("doc", "digest-1", "s3", {}, spans)
    embedded = plane.embedder.texts

    unchanged = plane.ingest.ingest_chunks("doc", "digest-1", "s3", {}, spans[:1])
    replaced = plane.ingest.ingest_chunks("doc", "digest-2", "s3", {}, spans[:1])

    assert [created.status, unchanged.status, replaced.status] == ["created", "unchanged", "replaced"]
    assert unchanged.chunks == 2
    assert plane.embedder.texts == embedded + 1  # only the replacement was embedded
    assert plane.chunk_texts("doc") == ["first part"]
    plane.assert_qdrant_mirrors_postgres()


def test_ingest_many_decides_per_document_in_order_and_hands_bad_ones_to_on_error(plane: Plane) -> None:
    plane.ingest.ingest(_document("kept", SHORT))
    plane.ingest.ingest(_document("changed", SHORT))
    rejected: list[str] = []

    results = list(
        plane.ingest.ingest_many(
            [
                _document("kept", SHORT),
                _document("empty", "   \n "),
                _document("changed", LONG),
                _document("new", LONG),
                _document("new", SHORT),  # given twice
            ],
            batch_chunks=4,
            on_error=lambda document, _error: rejected.append(document.doc_id),
        )
    )

    assert [(r.doc_id, r.status) for r in results] == [
        ("kept", "unchanged"),
        ("changed", "replaced"),
        ("new", "created"),
    ]
    assert sorted(rejected) == ["empty", "new"]  # a repeat is refused at lookup, an empty text later
    assert plane.ingest.get("empty") is None
    assert plane.pg.documents["new"].content_hash == content_hash(LONG)
    plane.assert_qdrant_mirrors_postgres()


def _service_like(plane: Plane, embedder: HashingEmbedder, chunking: ChunkingConfig) -> IngestService:
    """Another ingest service over the same stores: what a restart with other settings runs."""
    writer = DualWriter(plane.pg, plane.qdrant, plane.drainer)
    return IngestService(Chunker(chunking), embedder, plane.pg, writer)


@pytest.mark.parametrize(
    ("embedder", "chunking"),
    [
        (
            HashingEmbedder(dimension=DIMENSION, model="faro-hash-v2"),
            ChunkingConfig(tokenizer="chars", size=16, overlap=0),
        ),
        (HashingEmbedder(dimension=DIMENSION), ChunkingConfig(tokenizer="chars", size=24, overlap=0)),
        (HashingEmbedder(dimension=DIMENSION), ChunkingConfig(tokenizer="chars", size=16, overlap=4)),
        (
            HashingEmbedder(dimension=DIMENSION),
            ChunkingConfig(tokenizer="chars", size=16, overlap=0, strategy="fixed"),
        ),
    ],
    ids=["another-model", "another-size", "another-overlap", "another-strategy"],
)
def test_the_same_content_under_another_index_profile_is_embedded_again(
    plane: Plane, embedder: HashingEmbedder, chunking: ChunkingConfig
) -> None:
    first = plane.ingest.ingest(_document("guide", LONG))
    other = _service_like(plane, embedder, chunking)
    assert other.profile.fingerprint != plane.ingest.profile.fingerprint

    again = other.ingest(_document("guide", LONG))
    still = other.ingest(_document("guide", LONG))

    assert (first.status, again.status, still.status) == ("created", "replaced", "unchanged")
    assert plane.pg.documents["guide"].profile == other.profile.fingerprint
    assert {chunk.model for chunk in plane.pg.chunks.values()} == {embedder.model}
    assert plane.chunk_texts("guide") == [span.text for span in Chunker(chunking).chunk(LONG)]
    plane.assert_qdrant_mirrors_postgres()


def test_ingest_chunks_embeds_again_when_the_chunking_service_cut_another_way(plane: Plane) -> None:
    spans = [ChunkSpan(text="first part", start=0, end=10), ChunkSpan(text="second part", start=11, end=22)]
    cut = plane.ingest.profile.chunking
    plane.ingest.ingest_chunks("doc", "digest-1", "s3", {}, spans, cut)
    recut = cut.model_copy(update={"size": cut.size * 2})

    same = plane.ingest.ingest_chunks("doc", "digest-1", "s3", {}, spans, cut)
    other = plane.ingest.ingest_chunks("doc", "digest-1", "s3", {}, spans[:1], recut)

    assert (same.status, other.status) == ("unchanged", "replaced")
    assert plane.chunk_texts("doc") == ["first part"]
