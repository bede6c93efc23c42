"""Hybrid search through the query API on the real stores: the Qdrant and the PostgreSQL paths rank alike in
every mode (the same chunks in the same order), also when a Qdrant outage forces the fallback; filters
apply to both signals; an exact identifier finds its page by words where the vector alone may not."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from psycopg import sql

from faro_workloads.contract.settings import ChunkingConfig
from faro_workloads.core.documents import RankedChunk, SearchHit
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.ingest import IncomingDocument
from faro_workloads.core.lexical import query_vector
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore
from faro_workloads.core.text_extraction import detect_format, extract_document
from faro_workloads.data_plane import DataPlane

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DIMENSION = 64
QUESTIONS = [
    "What happens to pending Qdrant writes when Qdrant is down?",
    "How is the overlap between the two stores measured?",
    "consistency check repair from postgres",
    "outbox drainer",
]
"""Questions whose nearest chunks have distinct scores (a question of words no page holds ties every chunk at
0 by vector, and tied chunks come in any order)."""
CHUNKING = ChunkingConfig(tokenizer="chars", size=120, overlap=16)


@pytest.fixture
def pg(pg_store_factory) -> PgVectorStore:
    return pg_store_factory(dimension=DIMENSION)


@pytest.fixture
def plane(pg: PgVectorStore, qdrant_store_factory) -> Iterator[DataPlane]:
    data_plane = DataPlane(
        pg, qdrant_store_factory(pg.collection), HashingEmbedder(dimension=DIMENSION), CHUNKING
    )
    for path in sorted((REPO / "examples" / "docs").iterdir()):
        fmt = detect_format(path.name, None)
        extracted = extract_document(path.read_bytes(), fmt)
        team = {"team": "storage" if "consistency" in path.name or "dual" in path.name else "other"}
        data_plane.ingest.ingest(IncomingDocument(path.name, extracted.text, "test", fmt, team))
    yield data_plane
    data_plane.close()


def _ask(client: TestClient, question: str, backend: str, mode: str, **extra: object) -> dict:
    body = {"query": question, "top_k": 8, "backend": backend, "mode": mode, **extra}
    answer = client.post("/v1/query", json=body)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _order(answer: dict) -> list[tuple[str, int]]:
    return [(hit["doc_id"], hit["seq"]) for hit in answer["hits"]]


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_both_backends_rank_alike_in_every_mode(plane: DataPlane, mode: str) -> None:
    with TestClient(plane.api()) as client:
        for question in QUESTIONS:
            from_qdrant = _ask(client, question, "qdrant", mode)
            from_pg = _ask(client, question, "postgres", mode)
            assert from_qdrant["mode"] == from_pg["mode"] == mode
            assert _order(from_qdrant) == _order(from_pg), question
            for a, b in zip(from_qdrant["hits"], from_pg["hits"], strict=True):
                assert a["score"] == pytest.approx(b["score"], rel=1e-3, abs=1e-6)
        assert _order(_ask(client, QUESTIONS[0], "qdrant", "hybrid"))  # something is found


def test_the_fallback_answers_a_hybrid_query_as_qdrant_would(
    plane: DataPlane, pg: PgVectorStore, dead_qdrant_store: QdrantStore
) -> None:
    down = DataPlane(pg, dead_qdrant_store, HashingEmbedder(dimension=DIMENSION), CHUNKING)
    try:
        with TestClient(plane.api()) as healthy, TestClient(down.api()) as failing:
            for question in QUESTIONS:
                expected = _ask(healthy, question, "qdrant", "hybrid")
                answered = _ask(failing, question, "auto", "hybrid")
                assert answered["backend"] == "postgres" and answered["fallback_reason"] in (
                    "error",
                    "circuit_open",
                )
                assert _order(answered) == _order(expected), question
    finally:
        down.close()


def test_filters_apply_to_both_signals_and_an_exact_name_is_found_by_words(plane: DataPlane) -> None:
    with TestClient(plane.api()) as client:
        for backend in ("qdrant", "postgres"):
            flt = {"metadata": {"team": "storage"}}
            answer = _ask(client, "outbox drainer consistency", backend, "hybrid", filter=flt)
            assert answer["hits"] and {hit["metadata"]["team"] for hit in answer["hits"]} == {"storage"}
            lexical = _ask(client, "outbox", backend, "lexical")
            assert lexical["hits"] and all("outbox" in hit["text"].lower() for hit in lexical["hits"])


def test_grouped_answers_cover_distinct_documents_alike_on_both_backends(plane: DataPlane) -> None:
    with TestClient(plane.api()) as client:
        for question in QUESTIONS:
            grouped = {
                backend: _ask(client, question, backend, "hybrid", max_per_document=1)
                for backend in ("qdrant", "postgres")
            }
            docs = [doc_id for doc_id, _ in _order(grouped["qdrant"])]
            assert len(docs) == len(set(docs)) == min(8, 5)  # five documents in examples/docs
            assert _order(grouped["qdrant"]) == _order(grouped["postgres"]), question
            ungrouped = _ask(client, question, "qdrant", "hybrid", max_per_document=0)
            first_of_each = list(dict.fromkeys(hit["doc_id"] for hit in ungrouped["hits"]))
            assert docs[: len(first_of_each)] == first_of_each  # the same order, each at its best chunk
        refused = client.post("/v1/query", json={"query": "x", "max_per_document": -1})
        assert refused.status_code == 422 and "max_per_document" in refused.text


@pytest.mark.parametrize("flt", [None, SearchFilter(metadata={"team": "storage"})], ids=["all", "filtered"])
@pytest.mark.parametrize("k", [8, 120], ids=["k8", "k-above-ef-search"])
def test_both_rankings_in_one_round_trip_are_the_two_searches(
    plane: DataPlane, flt: SearchFilter | None, k: int
) -> None:
    """``rank_both`` (one pipelined round trip on PostgreSQL, one batch request on Qdrant) ranks as the
    dense and the lexical search rank apart, on both stores — with transaction-local settings (a filter, or
    k above hnsw.ef_search) and without; ``ranked_hits`` reads those chunks whole, as the searches give
    them."""
    embedder = HashingEmbedder(dimension=DIMENSION)
    for question in QUESTIONS:
        vector, terms = embedder.embed_one(question), query_vector(question)
        for store in (plane.pg, plane.qdrant):
            by_vector, by_words = store.rank_both(vector, terms, k, flt)
            assert by_words, question
            dense, lexical = store.search(vector, k, flt), store.search_lexical(terms, k, flt)
            _assert_same_ranking(by_vector, dense)
            _assert_same_ranking(by_words, lexical)
            for ranking, hits in ((by_vector, dense), (by_words, lexical)):
                whole = store.ranked_hits(ranking)
                _assert_same_ranking(whole, hits)
                assert [(h.doc_id, h.seq, h.text, h.metadata, h.model) for h in whole] == [
                    (h.doc_id, h.seq, h.text, h.metadata, h.model) for h in hits
                ]
    no_terms = query_vector("the and of")
    assert not no_terms
    for store in (plane.pg, plane.qdrant):
        by_vector, by_words = store.rank_both(vector, no_terms, 5)
        _assert_same_ranking(by_vector, store.search(vector, 5))
        assert by_words == []


def test_a_chunk_deleted_after_it_was_ranked_is_left_out(plane: DataPlane) -> None:
    """Between a hybrid query's rankings and the read of the chunks fusion keeps, a document may go: its
    chunks are left out of the hits, the others keep their places and scores."""
    vector = HashingEmbedder(dimension=DIMENSION).embed_one(QUESTIONS[0])
    for store in (plane.pg, plane.qdrant):
        ranking, _ = store.rank_both(vector, query_vector(QUESTIONS[0]), 8)
        gone = {chunk.id for chunk in ranking[1:3]}
        kept = [chunk for chunk in ranking if chunk.id not in gone]
        if store is plane.qdrant:
            plane.qdrant.delete(list(gone))
        else:
            with plane.pg._pool.connection("test") as conn:
                conn.execute(
                    sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(plane.pg._tables.chunks), [list(gone)]
                )
        hits = store.ranked_hits(ranking)
        assert [(h.id, h.score) for h in hits] == [(c.id, c.score) for c in kept]


def _assert_same_ranking(got: Sequence[SearchHit | RankedChunk], expected: list[SearchHit]) -> None:
    """The same chunks in the same order, with the same scores (Qdrant's local mode scores a batched query
    in another float precision: equal to 1e-7)."""
    assert [hit.id for hit in got] == [hit.id for hit in expected]
    assert [hit.score for hit in got] == pytest.approx([hit.score for hit in expected], rel=1e-6)


def test_hits_carry_their_neighbours_alike_from_both_backends(plane: DataPlane) -> None:
    """``neighbours: 1``: each hit comes with the chunks just before and after it in its document (the
    document's first chunk has none before it), the same from either store."""
    by_place = {(chunk.doc_id, chunk.seq): chunk.text for batch in plane.pg.iter_chunks() for chunk in batch}
    with TestClient(plane.api()) as client:
        for backend in ("qdrant", "postgres"):
            answer = _ask(client, QUESTIONS[0], backend, "hybrid", neighbours=1)
            assert answer["hits"]
            for hit in answer["hits"]:
                places = [seq for seq in (hit["seq"] - 1, hit["seq"] + 1) if (hit["doc_id"], seq) in by_place]
                expected = [{"seq": seq, "text": by_place[hit["doc_id"], seq]} for seq in places]
                assert hit["neighbours"] == expected, (backend, hit["doc_id"], hit["seq"])
            assert any(hit["neighbours"] for hit in answer["hits"])
        plain = _ask(client, QUESTIONS[0], "qdrant", "hybrid")
        assert all(hit["neighbours"] == [] for hit in plain["hits"])
        too_many = client.post("/v1/query", json={"query": QUESTIONS[0], "neighbours": 6})
        assert too_many.status_code == 422 and "neighbours" in too_many.text
