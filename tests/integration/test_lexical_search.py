"""The lexical (BM25) search of hybrid mode on the real stores: PostgreSQL and Qdrant score the same chunks
the same way (the weights each store holds are computed alike; the IDF is each store's own, by one
formula), filters apply, identifiers match whole and by their parts, and a collection made before hybrid
search says so instead of answering nothing."""

from __future__ import annotations

import math

import pytest
from qdrant_client import models

from faro_workloads.core.lexical import query_vector
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import LexicalIndexMissing, QdrantStore

from support.postgres import LEXICAL_TEXTS

pytestmark = pytest.mark.integration

TEXTS = LEXICAL_TEXTS


@pytest.fixture
def stores(pg_store: PgVectorStore, qdrant_store: QdrantStore, make_chunks, make_record):
    for doc_id, text in TEXTS.items():
        chunks = make_chunks(
            doc_id, 2, metadata=lambda seq, d=doc_id: {"team": "db" if d != "push" else "vcs"}
        )
        chunks[0].text = text  # chunk 1 keeps its generated text ("<doc> chunk 1 (v...)")
        pg_store.write_document(make_record(chunks), chunks)
        qdrant_store.upsert(chunks)
    return pg_store, qdrant_store


def _ranked(hits) -> list[tuple[str, int, float]]:
    return [(hit.doc_id, hit.seq, round(hit.score, 4)) for hit in hits]


@pytest.mark.parametrize(
    ("question", "first"),
    [
        ("busy timeout", "busy"),
        ("sqlite3_busy_timeout", "busy"),
        ("checkpoint the wal file", "wal"),
        ("journal_mode pragma", "pragma"),
        ("--force-with-lease", "push"),
        ("shrink the database file with vacuum", "vacuum"),
    ],
)
def test_both_stores_rank_and_score_alike(stores, question: str, first: str) -> None:
    pg, qdrant = stores
    query = query_vector(question)
    from_pg, from_qdrant = pg.search_lexical(query, 5), qdrant.search_lexical(query, 5)
    assert from_pg and from_pg[0].doc_id == first and from_pg[0].seq == 0
    assert [(d, s) for d, s, _ in _ranked(from_pg)] == [(d, s) for d, s, _ in _ranked(from_qdrant)]
    for a, b in zip(from_pg, from_qdrant, strict=True):
        assert math.isclose(a.score, b.score, rel_tol=1e-4), (a, b)
        assert a.text == b.text and a.metadata == b.metadata


def test_filters_apply_and_a_query_without_terms_finds_nothing(stores) -> None:
    pg, qdrant = stores
    query = query_vector("wal file checkpoint force lease")
    for store in (pg, qdrant):
        hits = store.search_lexical(query, 10, SearchFilter(metadata={"team": "vcs"}))
        assert {hit.doc_id for hit in hits} == {"push"}
        assert store.search_lexical(query, 10, SearchFilter(doc_ids=["nothing"])) == []
        assert store.search_lexical(query_vector("the and of"), 10) == []
        assert store.search_lexical(query_vector("zebra"), 10) == []


def test_a_qdrant_collection_made_before_hybrid_search_says_it_has_no_lexical_vectors(
    qdrant_store: QdrantStore, make_chunks
) -> None:
    qdrant_store.drop()
    with qdrant_store._qdrant.call("test") as client:  # as an older Faro made it: one dense vector
        client.create_collection(
            qdrant_store.name,
            vectors_config=models.VectorParams(
                size=qdrant_store.collection.dimension, distance=models.Distance.COSINE
            ),
        )
    qdrant_store.upsert(make_chunks("old", 2))  # writes go on, without lexical vectors
    assert qdrant_store.count() == 2 and not qdrant_store.has_lexical()
    with pytest.raises(LexicalIndexMissing):
        qdrant_store.search_lexical(query_vector("chunk"), 5)


def test_the_collection_size_is_counted_over_a_partial_index(stores) -> None:
    """BM25's N (the chunks that have terms) is counted per query; a narrow partial index over exactly that
    predicate lets PostgreSQL count without reading the chunks' wide rows."""
    pg, _ = stores
    (definition,) = [d for name, d in pg.index_definitions().items() if name.endswith("_has_terms")]
    assert "(id) WHERE (lexical_terms <> '{}'::integer[])" in definition
