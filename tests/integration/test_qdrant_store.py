"""QdrantStore on both local-mode engines, Qdrant Edge and qdrant-client's Python local mode (and a refused
connection for an unavailable server)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from faro_workloads.contract.settings import CollectionConfig, Distance, QdrantConfig
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.ports import CollectionMismatch
from faro_workloads.core.stores.qdrant import QdrantStore

pytestmark = pytest.mark.integration


@pytest.fixture(params=["edge", "python"])
def qdrant_store(qdrant_store_factory, collection_config: CollectionConfig, request) -> QdrantStore:
    """A ready in-memory store on each local-mode engine."""
    return qdrant_store_factory(collection_config, QdrantConfig(path=":memory:", local_engine=request.param))


def test_ensure_collection_is_idempotent_and_drop_removes_it(qdrant_store: QdrantStore, make_chunks) -> None:
    qdrant_store.upsert(make_chunks("a", 3))
    qdrant_store.ensure_collection()
    assert qdrant_store.healthy() and qdrant_store.count() == 3

    qdrant_store.drop()
    assert not qdrant_store.exists() and not qdrant_store.healthy()
    qdrant_store.ensure_collection()
    assert qdrant_store.count() == 0


def test_other_dimension_or_distance_is_a_clear_error(tmp_path, collection_config: CollectionConfig) -> None:
    folder = str(tmp_path / "qdrant")
    store = QdrantStore(QdrantConfig(path=folder), collection_config)
    store.ensure_collection()
    store.close()
    for change in ({"dimension": 32}, {"distance": Distance.DOT}):
        other = QdrantStore(QdrantConfig(path=folder), collection_config.model_copy(update=change))
        try:
            with pytest.raises(CollectionMismatch, match="holds 16-d Cosine"):
                other.ensure_collection()
        finally:
            other.close()


def test_upsert_retrieve_scroll_count_and_delete(
    qdrant_store_factory: Callable[..., QdrantStore], make_chunks
) -> None:
    store = qdrant_store_factory(config=QdrantConfig(path=":memory:", upsert_batch_size=7))
    chunks = make_chunks("a", 20, metadata={"lang": "en", "n": 3}) + make_chunks("b", 5)
    for chunk in chunks:
        chunk.embedding = chunk.embedding * 2.5  # cosine: Qdrant stores the unit vector

    store.upsert(chunks)

    assert store.count() == 25
    batches = list(store.scroll_ids(batch_size=10))
    assert [len(batch) for batch in batches] == [10, 10, 5]
    assert {i for batch in batches for i in batch} == {chunk.id for chunk in chunks}
    held = store.retrieve([chunks[0].id, chunks[21].id])
    assert held[chunks[0].id].payload() == chunks[0].payload()
    np.testing.assert_allclose(held[chunks[0].id].embedding, chunks[0].embedding / 2.5, rtol=1e-5)
    assert store.retrieve([chunks[0].id], with_vectors=False)[chunks[0].id].embedding.size == 0

    store.delete([chunks[0].id, chunks[1].id])
    store.delete_document("b")
    assert store.count() == 18
    assert store.retrieve([chunks[0].id, chunks[21].id]) == {}


def test_search_filters_by_doc_ids_and_metadata(qdrant_store: QdrantStore, make_chunks) -> None:
    for doc_id, lang, year in [("en-1", "en", 2023), ("en-2", "en", 2024), ("de-1", "de", 2024)]:
        qdrant_store.upsert(
            make_chunks(doc_id, 10, metadata={"lang": lang, "year": year, "public": lang == "en", "w": 0.5})
        )
    query = make_chunks("query", 1, seed=7)[0].embedding

    by_doc = qdrant_store.search(query, 50, SearchFilter(doc_ids=["en-2", "de-1"]))
    assert len(by_doc) == 20 and {hit.doc_id for hit in by_doc} == {"en-2", "de-1"}
    by_lang = qdrant_store.search(query, 50, SearchFilter(metadata={"lang": "en"}))
    assert len(by_lang) == 20 and {hit.doc_id for hit in by_lang} == {"en-1", "en-2"}
    both = qdrant_store.search(query, 5, SearchFilter(doc_ids=["en-1", "de-1"], metadata={"year": 2024}))
    assert len(both) == 5 and {hit.doc_id for hit in both} == {"de-1"}
    assert {h.doc_id for h in qdrant_store.search(query, 50, SearchFilter(metadata={"public": False}))} == {
        "de-1"
    }
    assert len(qdrant_store.search(query, 50, SearchFilter(metadata={"w": 0.5}))) == 30
    assert qdrant_store.search(query, 5, SearchFilter(metadata={"lang": "fr"})) == []
    scores = [hit.score for hit in by_doc]
    assert scores == sorted(scores, reverse=True)


def test_unavailable_server_fails_fast_and_is_not_healthy(
    dead_qdrant_store: QdrantStore, make_chunks
) -> None:
    assert dead_qdrant_store.healthy() is False
    with pytest.raises(Exception, match="Connection refused"):
        dead_qdrant_store.upsert(make_chunks("a", 1))
