"""Rankings of chunks: reciprocal rank fusion of a hybrid query's dense and lexical rankings, and the
grouping that keeps at most N chunks of a document.

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

from faro_workloads.core.documents import SearchHit


def reciprocal_rank_fusion(
    rankings: Sequence[tuple[Sequence[SearchHit], float]], k: int, limit: int
) -> list[SearchHit]:
    """The first ``limit`` chunks of the fused ``rankings`` (each a ranking and its weight), each hit as
    its first ranking gave it, scored with its fused score."""
    scores: dict[object, float] = {}
    best_rank: dict[object, int] = {}
    hits: dict[object, SearchHit] = {}
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
