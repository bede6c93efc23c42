"""The embedding cache in a real PostgreSQL: vectors come back as they went in, keyed by model and text;
ingest through the data plane sends an edited document's unchanged paragraphs to no model; pruning keeps
what a chunk holds and what is younger than the grace."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from prometheus_client import REGISTRY

from faro_workloads.contract.settings import ChunkingConfig
from faro_workloads.core.documents import CONTEXT_KEY, embedded_text
from faro_workloads.core.embedding.cached import text_hash
from faro_workloads.core.ingest import IncomingDocument
from faro_workloads.core.retrieval import Backend
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.data_plane import DataPlane

from support.handbook import SECTIONS, RecordingEmbedder, handbook
from support.polling import wait_for

pytestmark = pytest.mark.integration

DIMENSION = 32
CHUNKING = ChunkingConfig(strategy="markdown", tokenizer="chars", size=40, overlap=0)


@pytest.fixture
def pg(pg_store_factory) -> PgVectorStore:
    return pg_store_factory(dimension=DIMENSION)


def test_vectors_round_trip_by_model_key_and_text_hash(pg: PgVectorStore) -> None:
    rng = np.random.default_rng(7)
    vectors = {text_hash(f"text {n}"): rng.normal(size=DIMENSION).astype(np.float32) for n in range(300)}
    pg.remember_embeddings("hash:a@32", vectors)
    pg.remember_embeddings("hash:a@32", {text_hash("text 0"): np.zeros(DIMENSION, np.float32)})  # kept as is

    found = pg.cached_embeddings("hash:a@32", [*vectors, text_hash("never embedded")])
    assert found.keys() == vectors.keys()
    for digest, vector in vectors.items():
        np.testing.assert_array_equal(found[digest], vector)
    assert pg.cached_embeddings("hash:b@32", list(vectors)) == {}
    assert pg.cached_embeddings("hash:a@32", []) == {}


def test_pruning_keeps_texts_a_chunk_holds_and_entries_younger_than_the_grace(
    pg: PgVectorStore, make_chunks, make_record
) -> None:
    chunks = make_chunks("doc", 3, dimension=DIMENSION)
    pg.write_document(make_record(chunks), chunks)
    held = {text_hash(chunk.text): chunk.embedding for chunk in chunks}
    stale = {text_hash("a paragraph since rewritten"): chunks[0].embedding}
    pg.remember_embeddings("hash:a@32", {**held, **stale})

    assert pg.prune_embedding_cache(grace_seconds=3600) == 0  # everything is younger than an hour
    assert pg.prune_embedding_cache(grace_seconds=0) == 1
    assert pg.cached_embeddings("hash:a@32", [*held, *stale]).keys() == held.keys()


def test_pruning_keeps_what_chunks_were_embedded_as_with_their_context(
    pg: PgVectorStore, make_chunks, make_record
) -> None:
    """A contextual chunk's cache entry is its context + text (multi-byte characters hashed alike in
    Python and SQL); the bare text of such a chunk is not held."""
    chunks = make_chunks("doc", 2, dimension=DIMENSION)
    chunks[0].text = "Café au lait \u2192 naïve"
    chunks[0].metadata = {**chunks[0].metadata, CONTEXT_KEY: "Menu — drinks > Hot"}
    pg.write_document(make_record(chunks), chunks)
    held = {text_hash(embedded_text(c.metadata.get(CONTEXT_KEY, ""), c.text)): c.embedding for c in chunks}
    bare = {text_hash(chunks[0].text): chunks[0].embedding}
    pg.remember_embeddings("hash:a@32", {**held, **bare})

    assert pg.prune_embedding_cache(grace_seconds=0) == 1
    assert pg.cached_embeddings("hash:a@32", [*held, *bare]).keys() == held.keys()


@pytest.fixture
def model() -> RecordingEmbedder:
    return RecordingEmbedder(dimension=DIMENSION)


@pytest.fixture
def plane(pg: PgVectorStore, qdrant_store_factory, model: RecordingEmbedder) -> Iterator[DataPlane]:
    data_plane = DataPlane(pg, qdrant_store_factory(pg.collection), model, CHUNKING)
    yield data_plane
    data_plane.close()


def test_an_edited_paragraph_is_the_only_text_of_40_sent_to_the_model_again(
    plane: DataPlane, model: RecordingEmbedder
) -> None:
    first = plane.ingest.ingest(IncomingDocument("handbook", handbook(), "test", "markdown"))
    assert first.chunks >= SECTIONS and len(model.sent) == first.chunks
    model.sent.clear()
    reused_before = _reused()

    edited = plane.ingest.ingest(IncomingDocument("handbook", handbook(edited=17), "test", "markdown"))

    assert edited.status == "replaced" and 1 <= len(model.sent) <= 3
    assert all("rewritten" in text for text in model.sent)
    assert _reused() - reused_before == edited.chunks - len(model.sent)
    answer = plane.retriever.query("a second reviewer before it may start", 1, None, Backend.POSTGRES)
    assert "rewritten" in answer.hits[0].text
    wait_for(lambda: plane.qdrant.count() == edited.chunks, what="qdrant to follow")


def _reused() -> float:
    return REGISTRY.get_sample_value("faro_embeddings_reused_total", {"model": "faro-hash-v1"}) or 0.0
