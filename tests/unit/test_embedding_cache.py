"""The embedding cache's decisions over in-memory stores: only texts the model has not embedded before are
sent to it, an edit of one paragraph re-embeds that paragraph's chunk, and pruning keeps what chunks hold."""

from __future__ import annotations

import numpy as np
import pytest

from faro_workloads.contract.settings import ChunkingConfig
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.documents import CONTEXT_KEY, Chunk, embedded_text
from faro_workloads.core.dual_writer import DualWriter
from faro_workloads.core.embedding.cached import CachedEmbedder, text_hash
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.ingest import IncomingDocument, IngestService
from faro_workloads.core.outbox import OutboxDrainer

from support.fake_stores import FakePostgres, FakeQdrant
from support.handbook import SECTIONS, RecordingEmbedder, handbook


def _embedded(chunk: Chunk) -> str:
    """What the model was sent for ``chunk`` (its heading context, then its text)."""
    return embedded_text(chunk.metadata.get(CONTEXT_KEY, ""), chunk.text)


def _ingest(pg: FakePostgres, embedder: RecordingEmbedder, size: int = 40) -> IngestService:
    qdrant = FakeQdrant()
    writer = DualWriter(pg, qdrant, OutboxDrainer(pg, qdrant))
    chunker = Chunker(ChunkingConfig(strategy="markdown", tokenizer="chars", size=size, overlap=0))
    return IngestService(chunker, CachedEmbedder(embedder, pg), pg, writer)


def test_editing_one_paragraph_of_a_40_chunk_document_embeds_at_most_3_chunks() -> None:
    pg, model = FakePostgres(), RecordingEmbedder()
    ingest = _ingest(pg, model)
    first = ingest.ingest(IncomingDocument("handbook", handbook(), "test", "markdown"))
    assert first.chunks >= SECTIONS and len(model.sent) == first.chunks
    model.sent.clear()

    edited = ingest.ingest(IncomingDocument("handbook", handbook(edited=17), "test", "markdown"))

    assert edited.status == "replaced" and edited.chunks == first.chunks
    assert 1 <= len(model.sent) <= 3 and all("rewritten" in text for text in model.sent)


def test_the_vectors_are_the_models_whether_cached_or_not_and_a_text_twice_is_embedded_once() -> None:
    pg, model = FakePostgres(), RecordingEmbedder()
    cached = CachedEmbedder(model, pg)
    texts = ["alpha beta", "gamma delta", "alpha beta"]

    first = cached.embed(texts)
    again = cached.embed(list(reversed(texts)))

    np.testing.assert_array_equal(first, HashingEmbedder(dimension=32).embed(texts))
    np.testing.assert_array_equal(again, first[::-1])
    assert model.sent == ["alpha beta", "gamma delta"]
    assert cached.identity == model.identity


def test_another_model_does_not_reuse_the_first_models_vectors() -> None:
    pg = FakePostgres()
    CachedEmbedder(RecordingEmbedder(), pg).embed(["alpha beta"])
    other = RecordingEmbedder(model="faro-hash-v2")

    CachedEmbedder(other, pg).embed(["alpha beta"])

    assert other.sent == ["alpha beta"]


@pytest.mark.parametrize("size", [40, 80])
def test_a_rechunk_embeds_only_the_chunks_whose_text_is_new(size: int) -> None:
    pg, model = FakePostgres(), RecordingEmbedder()
    _ingest(pg, model, size=40).ingest(IncomingDocument("handbook", handbook(), "test", "markdown"))
    known = set(model.sent)
    model.sent.clear()

    recut = _ingest(pg, model, size=size).ingest(IncomingDocument("handbook", handbook(), "test", "markdown"))

    new_texts = {_embedded(chunk) for chunk in pg.chunks.values()} - known
    assert sorted(model.sent) == sorted(new_texts)
    assert recut.status == ("unchanged" if size == 40 else "replaced")


def test_pruning_deletes_what_no_chunk_holds_and_keeps_the_rest() -> None:
    pg, model = FakePostgres(), RecordingEmbedder()
    ingest = _ingest(pg, model)
    ingest.ingest(IncomingDocument("handbook", handbook(), "test", "markdown"))
    ingest.ingest(IncomingDocument("handbook", handbook(edited=3), "test", "markdown"))
    held = {text_hash(_embedded(chunk)) for chunk in pg.chunks.values()}
    assert len(pg.embedding_cache) == len(held) + 1  # the old paragraph 3

    assert pg.prune_embedding_cache(0) == 1
    assert {digest for _, digest in pg.embedding_cache} == held
    ingest.delete("handbook")
    assert pg.prune_embedding_cache(0) == len(held) and pg.embedding_cache == {}
