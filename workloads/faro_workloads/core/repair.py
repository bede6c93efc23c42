"""Repair: make Qdrant hold exactly what PostgreSQL holds.

Walks the chunks table in id order and re-upserts every chunk Qdrant lacks or holds differently (vector or
payload), then deletes the Qdrant points Postgres does not have. A missing collection is recreated and
rebuilt entirely from Postgres. Pending outbox rows are left alone: applying them later is harmless, since
they always push Postgres's current state.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from faro_workloads.contract.settings import Distance
from faro_workloads.core.documents import Chunk
from faro_workloads.core.stores.ports import ChunkScan, PointReplica

log = logging.getLogger(__name__)

# Vectors are float32 in both stores; Qdrant's cosine normalisation adds rounding of this order.
VECTOR_TOLERANCE = 1e-5


@dataclass(frozen=True, slots=True)
class RepairReport:
    """What a repair changed in Qdrant. ``unchanged`` counts points that already matched Postgres."""

    upserted: int
    deleted: int
    unchanged: int
    recreated_collection: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def comparable_vector(vector: np.ndarray, distance: Distance) -> np.ndarray:
    """A vector as Qdrant stores it for ``distance``: unit length for cosine, unchanged otherwise."""
    array = np.asarray(vector, dtype=np.float32)
    if distance is Distance.COSINE:
        norm = float(np.linalg.norm(array))
        return array / norm if norm > 0 else array
    return array


def same_point(expected: Chunk, actual: Chunk, distance: Distance) -> bool:
    """Whether Qdrant's ``actual`` point holds Postgres's ``expected`` chunk (payload and vector)."""
    if expected.payload() != actual.payload():
        return False
    want = comparable_vector(expected.embedding, distance)
    have = comparable_vector(actual.embedding, distance)
    return want.shape == have.shape and bool(
        np.allclose(want, have, rtol=VECTOR_TOLERANCE, atol=VECTOR_TOLERANCE)
    )


def _read_ahead(pages: Iterator[list[Chunk]]) -> Iterator[list[Chunk]]:
    """``pages``, each next one read on a reader thread while the caller works on the current one."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="faro-repair-reader") as reader:
        following = reader.submit(next, pages, None)
        while (page := following.result()) is not None:
            following = reader.submit(next, pages, None)
            yield page


def repair_qdrant(pg: ChunkScan, qdrant: PointReplica, batch_size: int = 1024) -> RepairReport:
    """Bring Qdrant in line with Postgres and say what changed.

    Chunks are read from Postgres a page (``batch_size``) ahead of the Qdrant work on the current page.
    """
    distance = pg.collection.distance
    recreated = not qdrant.exists()
    qdrant.ensure_collection()
    upserted = unchanged = 0
    for chunks in _read_ahead(pg.iter_chunks(batch_size)):
        if recreated:
            stale = chunks
        else:
            held = qdrant.retrieve([chunk.id for chunk in chunks], with_vectors=True)
            stale = [c for c in chunks if c.id not in held or not same_point(c, held[c.id], distance)]
        if stale:
            qdrant.upsert(stale)
        upserted += len(stale)
        unchanged += len(chunks) - len(stale)

    deleted = 0
    if not recreated:
        known = pg.all_ids()
        orphans = [point for ids in qdrant.scroll_ids(batch_size) for point in ids if point not in known]
        if orphans:
            qdrant.delete(orphans)
        deleted = len(orphans)
    report = RepairReport(upserted, deleted, unchanged, recreated)
    log.info("repaired qdrant collection %s: %s", pg.collection.name, report)
    return report
