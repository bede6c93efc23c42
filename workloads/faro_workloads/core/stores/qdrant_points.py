"""Faro's chunks and hits as Qdrant points, and back: the vector names, the batch an upsert sends, a scored
point as a :class:`SearchHit`. Built from Faro's own well-typed values, so pydantic's validation of every
float is skipped (``model_construct``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from qdrant_client import models

from faro_workloads.core.documents import Chunk, RankedChunk, SearchHit
from faro_workloads.core.fusion import ties_in_id_order
from faro_workloads.core.lexical import SparseVector, chunk_vector
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.qdrant_filter import to_qdrant_filter

DENSE_VECTOR = ""
"""The dense vector's name: Qdrant's default (unnamed) vector."""
LEXICAL_VECTOR = "lexical"
"""The sparse vector of hybrid search's lexical signal (BM25 weights; Qdrant applies the IDF)."""


def dense_query(vector: np.ndarray) -> list[float]:
    """A query vector as Qdrant takes it: float32 values in a list."""
    return np.asarray(vector, dtype=np.float32).tolist()


def sparse_vector(vector: SparseVector) -> models.SparseVector:
    return models.SparseVector.model_construct(indices=vector.indices, values=vector.values)


class LexicalIndexMissing(RuntimeError):
    """The collection was made before hybrid search: it has no lexical sparse vectors."""

    def __init__(self, collection: str) -> None:
        super().__init__(f"qdrant collection {collection!r} has no lexical vectors")


def has_lexical_vectors(info: models.CollectionInfo) -> bool:
    """Whether a collection (its info) holds lexical sparse vectors (made by a Faro with hybrid search)."""
    return LEXICAL_VECTOR in (info.config.params.sparse_vectors or {})


def chunk_texts_of(records: Sequence[models.Record]) -> dict[uuid.UUID, str]:
    """The text of each retrieved point (retrieved with the ``text`` payload only)."""
    return {point_id(record.id): str((record.payload or {}).get("text", "")) for record in records}


def dense_request(
    vector: np.ndarray, k: int, flt: SearchFilter | None, ranked: bool = False
) -> models.QueryRequest:
    """A query for the ``k`` nearest points to ``vector`` (with their payload; with ``ranked``, ids and
    scores only)."""
    return models.QueryRequest(
        query=dense_query(vector), limit=k, filter=to_qdrant_filter(flt), with_payload=not ranked
    )


def lexical_request(
    query: SparseVector, k: int, flt: SearchFilter | None, ranked: bool = False
) -> models.QueryRequest:
    """A query for the ``k`` points with the highest BM25 score for ``query`` (with their payload; with
    ``ranked``, ids and scores only)."""
    return models.QueryRequest(
        query=sparse_vector(query),
        using=LEXICAL_VECTOR,
        limit=k,
        filter=to_qdrant_filter(flt),
        with_payload=not ranked,
    )


def point_batch(chunks: Sequence[Chunk], lexical: bool) -> models.Batch:
    """``chunks`` as one upsert batch: id, dense vector, payload, and the lexical sparse vector when the
    collection has one (``lexical``)."""
    dense = [np.asarray(chunk.embedding, dtype=np.float32).tolist() for chunk in chunks]
    vectors: list[list[float]] | dict[str, list[Any]] = dense
    if lexical:
        vectors = {
            DENSE_VECTOR: dense,
            LEXICAL_VECTOR: [sparse_vector(chunk_vector(chunk)) for chunk in chunks],
        }
    return models.Batch.model_construct(
        ids=[str(chunk.id) for chunk in chunks],
        vectors=vectors,
        payloads=[chunk.payload() for chunk in chunks],
    )


def search_hits(points: list[models.ScoredPoint]) -> list[SearchHit]:
    """A response's points as hits, tied ones in id order (see :mod:`~faro_workloads.core.fusion`)."""
    return ties_in_id_order([search_hit(point) for point in points])


def ranked_chunks(points: list[models.ScoredPoint]) -> list[RankedChunk]:
    """A response's points (asked for without payload) as a ranking, tied ones in id order."""
    return ties_in_id_order([RankedChunk(point_id(point.id), float(point.score)) for point in points])


def ranked_hits(ranking: Sequence[RankedChunk], records: Sequence[models.Record]) -> list[SearchHit]:
    """The chunks of ``ranking`` as hits (their ``records``, retrieved with their payload), in its order and
    with its scores; a chunk with no record (deleted since it was ranked) is left out."""
    by_id = {point_id(record.id): record for record in records}
    return [
        _hit(chunk.id, chunk.score, by_id[chunk.id].payload or {}) for chunk in ranking if chunk.id in by_id
    ]


def search_hit(point: models.ScoredPoint) -> SearchHit:
    return _hit(point_id(point.id), float(point.score), point.payload or {})


def _hit(id_: uuid.UUID, score: float, payload: dict[str, Any]) -> SearchHit:
    return SearchHit(
        id=id_,
        score=score,
        doc_id=payload["doc_id"],
        seq=int(payload["seq"]),
        text=payload["text"],
        metadata=dict(payload.get("metadata") or {}),
        model=str(payload.get("model", "")),
    )


def point_id(value: object) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
