"""Consistency check: do PostgreSQL and Qdrant hold, and answer with, the same chunks?

Samples stored embeddings from Postgres, runs the same top-k search in both stores and averages
overlap@k = |ids_qdrant ∩ ids_postgres| / min(k, n) (n = chunks in Postgres). Also compares the two id sets:
``missing_ids`` are in Postgres but not in Qdrant, ``orphan_ids`` in Qdrant but not in Postgres.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from faro_workloads.core.stores.ports import ConsistencyReplica, ConsistencySource

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ConsistencyReport:
    """The outcome of one check. ``overlap_at_k`` is 1.0 when nothing could be sampled (empty Postgres)."""

    k: int
    sampled: int
    overlap_at_k: float
    postgres_count: int
    qdrant_count: int
    missing_ids: list[uuid.UUID]
    orphan_ids: list[uuid.UUID]
    outbox_pending: int

    @property
    def consistent(self) -> bool:
        """Both stores hold the same point ids. (``overlap_at_k`` is reported apart: on big collections it
        also reflects the approximate HNSW recall of each store, so it can sit a little under 1.0.)"""
        return not self.missing_ids and not self.orphan_ids

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values (ids as strings)."""
        return {
            "k": self.k,
            "sampled": self.sampled,
            "overlap_at_k": self.overlap_at_k,
            "postgres_count": self.postgres_count,
            "qdrant_count": self.qdrant_count,
            "missing_ids": [str(i) for i in self.missing_ids],
            "orphan_ids": [str(i) for i in self.orphan_ids],
            "outbox_pending": self.outbox_pending,
            "consistent": self.consistent,
        }


def check_consistency(
    pg: ConsistencySource, qdrant: ConsistencyReplica, sample_size: int = 50, k: int = 10
) -> ConsistencyReport:
    """Compare the two stores (read-only). A missing Qdrant collection counts as an empty one.

    Raises when either store cannot be reached.
    """
    if k < 1 or sample_size < 0:
        raise ValueError("k must be at least 1 and sample_size not negative")
    postgres_ids = pg.all_ids()
    collection_exists = qdrant.exists()
    qdrant_ids = {point for ids in qdrant.scroll_ids() for point in ids} if collection_exists else set()
    expected = min(k, len(postgres_ids))
    overlaps: list[float] = []
    for vector in pg.sample_embeddings(sample_size) if postgres_ids else []:
        from_pg = {hit.id for hit in pg.search(vector, k)}
        from_qdrant = {hit.id for hit in qdrant.search(vector, k)} if collection_exists else set()
        overlaps.append(len(from_pg & from_qdrant) / expected)
    report = ConsistencyReport(
        k=k,
        sampled=len(overlaps),
        overlap_at_k=sum(overlaps) / len(overlaps) if overlaps else 1.0,
        postgres_count=len(postgres_ids),
        qdrant_count=qdrant.count() if collection_exists else 0,
        missing_ids=sorted(postgres_ids - qdrant_ids),
        orphan_ids=sorted(qdrant_ids - postgres_ids),
        outbox_pending=pg.outbox_pending(),
    )
    log.info(
        "consistency of %s: overlap@%d=%.3f over %d samples, %d missing, %d orphans",
        pg.collection.name,
        k,
        report.overlap_at_k,
        report.sampled,
        len(report.missing_ids),
        len(report.orphan_ids),
    )
    return report
