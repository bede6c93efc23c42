"""Rankings of chunks: reciprocal rank fusion of a hybrid query's dense and lexical rankings, the grouping
that keeps at most N chunks of a document, and the order of tied chunks.

Chunks with equal scores (the same text in several documents, or the same term weights) come from each
store in its own order: Qdrant's by its segments, PostgreSQL's by the plan. Both stores' hits are put in
one order, tied chunks by id (:func:`ties_in_id_order`), so a query answers alike whichever store answers
it — and a hybrid query's ranks, which its fusion scores, are the same too.

A chunk's fused score is ``sum(weight / (k + rank))`` over the rankings it is in (rank from 1). Scores of
different signals (cosine similarity, BM25) are not comparable; ranks are. Ties go to the chunk with the
better single rank, then the lower id, so the same two rankings always fuse to the same order — which is
what makes the Qdrant and the PostgreSQL paths answer alike: each store gives its two rankings, Faro fuses
them the same way. (Qdrant's server-side fusion would have been one round trip less, but qdrant-client's
local mode ignores RRF weights and scores ranks differently from the server: the same query would rank
differently by deployment.)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TypeVar

from faro_workloads.core.documents import RankedChunk, SearchHit

Ranked = TypeVar("Ranked", SearchHit, RankedChunk)


def reciprocal_rank_fusion(
    rankings: Sequence[tuple[Sequence[Ranked], float]], k: int, limit: int
) -> list[Ranked]:
    """The first ``limit`` chunks of the fused ``rankings`` (each a ranking and its weight), each hit as
    its first ranking gave it, scored with its fused score."""
    scores: dict[object, float] = {}
    best_rank: dict[object, int] = {}
    hits: dict[object, Ranked] = {}
    for ranking, weight in rankings:
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.id] = scores.get(hit.id, 0.0) + weight / (k + rank)
            best_rank[hit.id] = min(best_rank.get(hit.id, rank), rank)
            hits.setdefault(hit.id, hit)
    order = sorted(scores, key=lambda key: (-scores[key], best_rank[key], str(key)))
    return [dataclasses.replace(hits[key], score=scores[key]) for key in order[:limit]]


GROUPING_OVERFETCH = 4
"""Chunks asked of a store per chunk wanted when results are grouped by document (a document's chunks
cluster: without more candidates, fewer than ``top_k`` distinct documents might come back)."""
MAX_FETCH = 1000


def at_most_per_document(hits: Sequence[SearchHit], per_document: int) -> list[SearchHit]:
    """``hits`` in order, without a document's chunks beyond its first ``per_document`` (0: all kept)."""
    if per_document <= 0:
        return list(hits)
    seen: dict[str, int] = {}
    kept = []
    for hit in hits:
        count = seen.get(hit.doc_id, 0)
        if count < per_document:
            kept.append(hit)
            seen[hit.doc_id] = count + 1
    return kept


def ties_in_id_order(hits: list[Ranked]) -> list[Ranked]:
    """``hits`` in a store's order (by score, either direction), each run of equal scores by chunk id."""
    for i in range(1, len(hits)):
        if hits[i].score == hits[i - 1].score:
            break
    else:
        return hits  # no tie: the common case costs one pass
    ordered: list[Ranked] = []
    start = 0
    for end in range(1, len(hits) + 1):
        if end == len(hits) or hits[end].score != hits[start].score:
            ordered.extend(sorted(hits[start:end], key=lambda hit: hit.id))
            start = end
    return ordered


def tied_past(hits: Sequence[SearchHit], wanted: int) -> bool:
    """Whether the chunk at place ``wanted`` ties with the last of ``hits`` (which hold more than
    ``wanted``): chunks tied with it may lie beyond, and which of them make the first ``wanted`` is the
    store's choice until they are all fetched."""
    return len(hits) > wanted > 0 and hits[wanted - 1].score == hits[-1].score
