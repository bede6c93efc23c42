"""Rankings' decisions: reciprocal rank fusion, the order of tied chunks, and the retriever asking one store
for both signals (the other store for both when it falls back), or for the vector alone on an index without
lexical terms."""

from __future__ import annotations

import asyncio
import uuid

import numpy as np
import pytest

from faro_workloads.contract.api import SearchMode
from faro_workloads.contract.settings import QueryConfig
from faro_workloads.core.documents import SearchHit
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.fusion import at_most_per_document, reciprocal_rank_fusion, ties_in_id_order
from faro_workloads.core.retrieval import Backend, Retriever, past_ties

from support.fake_stores import FakeSearch

IDS = [uuid.UUID(int=n) for n in range(6)]


def _hit(n: int, score: float = 0.5, store: str = "s") -> SearchHit:
    return SearchHit(IDS[n], score, f"{store}-doc{n}", n, f"text {n}", {})


def test_fused_score_is_the_weighted_sum_of_reciprocal_ranks() -> None:
    dense = [_hit(0, 0.9), _hit(1, 0.8), _hit(2, 0.7)]
    lexical = [_hit(2, 12.0), _hit(3, 9.0)]
    fused = reciprocal_rank_fusion([(dense, 1.0), (lexical, 0.5)], k=60, limit=10)
    scores = {hit.id: hit.score for hit in fused}
    assert scores[IDS[2]] == pytest.approx(1 / 63 + 0.5 / 61)
    assert scores[IDS[0]] == pytest.approx(1 / 61)
    assert [hit.seq for hit in fused] == [2, 0, 1, 3]
    assert fused[0].text == "text 2"  # the hit as the first ranking gave it, with the fused score


def test_ties_go_to_the_better_single_rank_then_the_lower_id_and_limit_cuts() -> None:
    fused = reciprocal_rank_fusion([([_hit(4), _hit(1)], 1.0), ([_hit(1), _hit(4)], 1.0)], k=60, limit=5)
    assert [hit.seq for hit in fused] == [1, 4]  # equal sums and best ranks: the lower id first
    assert len(reciprocal_rank_fusion([([_hit(n) for n in range(6)], 1.0)], k=1, limit=2)) == 2
    assert reciprocal_rank_fusion([([], 1.0), ([], 1.0)], k=60, limit=5) == []


def _retriever(pg: FakeSearch, qdrant: FakeSearch, lexical: bool = True) -> Retriever:
    config = QueryConfig(hybrid_candidates=4, default_mode=SearchMode.HYBRID)
    return Retriever.over(HashingEmbedder(dimension=8), pg, qdrant, config, lexical=lexical)


def test_hybrid_asks_one_store_for_both_signals_and_fuses_them() -> None:
    qdrant = FakeSearch(
        [_hit(0, store="q"), _hit(1, store="q")], lexical_hits=[_hit(1, store="q"), _hit(2, store="q")]
    )
    pg = FakeSearch([_hit(5, store="p")])
    result = _retriever(pg, qdrant).query("which doc", 3, None, Backend.AUTO)
    assert result.mode is SearchMode.HYBRID and result.backend is Backend.QDRANT
    assert [hit.seq for hit in result.hits] == [1, 0, 2]
    assert (qdrant.calls, pg.calls) == (2, 0)


def test_a_failing_qdrant_hands_both_signals_to_postgres() -> None:
    qdrant = FakeSearch([_hit(0)])
    qdrant.failure = ConnectionError("down")
    pg = FakeSearch([_hit(3, store="p")], lexical_hits=[_hit(4, store="p"), _hit(3, store="p")])
    result = _retriever(pg, qdrant).query("which doc", 3, None, Backend.AUTO)
    assert (result.backend, result.fallback_reason, result.mode) == (
        Backend.POSTGRES,
        "error",
        SearchMode.HYBRID,
    )
    assert [hit.seq for hit in result.hits] == [3, 4]
    assert pg.calls == 2


def test_lexical_mode_embeds_nothing_and_an_index_without_terms_answers_by_vector() -> None:
    qdrant = FakeSearch([_hit(0)], lexical_hits=[_hit(2)])
    lexical = _retriever(FakeSearch([]), qdrant).query(
        "which doc", 3, None, Backend.QDRANT, SearchMode.LEXICAL
    )
    assert [hit.seq for hit in lexical.hits] == [2] and lexical.mode is SearchMode.LEXICAL

    old = _retriever(FakeSearch([]), FakeSearch([_hit(0)], lexical_hits=[_hit(2)]), lexical=False)
    answered = old.query("which doc", 3, None, Backend.QDRANT, SearchMode.HYBRID)
    assert answered.mode is SearchMode.DENSE and [hit.seq for hit in answered.hits] == [0]
    assert old.query_vector(np.ones(8, dtype=np.float32), 1, None, Backend.QDRANT).mode is SearchMode.DENSE


def test_grouping_keeps_a_documents_first_chunks_and_fills_top_k_with_other_documents() -> None:
    same_doc = [SearchHit(IDS[n], 1 - n / 10, "big" if n < 4 else f"doc{n}", n, "t", {}) for n in range(6)]
    assert [hit.seq for hit in at_most_per_document(same_doc, 1)] == [0, 4, 5]
    assert [hit.seq for hit in at_most_per_document(same_doc, 2)] == [0, 1, 4, 5]
    assert at_most_per_document(same_doc, 0) == same_doc

    store = FakeSearch(same_doc)
    config = QueryConfig(default_mode=SearchMode.DENSE, max_chunks_per_document=1)
    retriever = Retriever.over(HashingEmbedder(dimension=8), FakeSearch([]), store, config)
    grouped = retriever.query("q", 3, None, Backend.QDRANT)
    assert [hit.doc_id for hit in grouped.hits] == ["big", "doc4", "doc5"]
    assert len(retriever.query("q", 3, None, Backend.QDRANT, per_document=0).hits) == 3
    assert [h.doc_id for h in retriever.query("q", 3, None, Backend.QDRANT, per_document=0).hits] == [
        "big"
    ] * 3


def test_tied_chunks_come_in_id_order_whatever_the_direction_of_the_scores() -> None:
    similarity = [_hit(5, 0.9), _hit(3, 0.7), _hit(1, 0.7), _hit(4, 0.7), _hit(0, 0.2)]
    assert [hit.seq for hit in ties_in_id_order(similarity)] == [5, 1, 3, 4, 0]
    distance = [_hit(2, 0.1), _hit(4, 0.3), _hit(0, 0.3)]  # euclid: lower first, the store's order kept
    assert [hit.seq for hit in ties_in_id_order(distance)] == [2, 0, 4]
    untied = [_hit(1, 0.9), _hit(0, 0.8)]
    assert ties_in_id_order(untied) is untied


def test_a_tie_at_the_last_place_is_decided_by_id_among_all_the_tied_chunks() -> None:
    """Five chunks tie for places 2-6; the store hands out tied ones in its own order (here: ids
    descending), so which make the top 3 depends on how many it was asked for."""
    ranking = [_hit(5, 0.9), *(_hit(n, 0.5) for n in (4, 3, 2, 1, 0))]
    asked: list[int] = []

    async def search(n: int) -> list[SearchHit]:
        asked.append(n)
        return ties_in_id_order(ranking[:n])

    top = asyncio.run(past_ties(search, 3))
    assert [hit.seq for hit in top] == [5, 0, 1] and asked == [4, 20]
    asked.clear()
    assert [hit.seq for hit in asyncio.run(past_ties(search, 1))] == [5] and asked == [2]  # no tie: one ask
