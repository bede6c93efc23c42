"""Repairing Qdrant from PostgreSQL, and checking that the two agree."""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np
import pytest

from faro_workloads.contract.settings import CollectionConfig, Distance
from faro_workloads.core.consistency import check_consistency
from faro_workloads.core.documents import Chunk
from faro_workloads.core.repair import repair_qdrant
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

pytestmark = pytest.mark.integration


def _load(pg: PgVectorStore, qdrant: QdrantStore, chunks: list[Chunk]) -> None:
    pg.bulk_load(chunks)
    qdrant.upsert(chunks)


@pytest.mark.parametrize("distance", list(Distance))
def test_wiped_qdrant_is_rebuilt_from_postgres(
    pg_store_factory: Callable[..., PgVectorStore],
    qdrant_store_factory: Callable[..., QdrantStore],
    collection_config: CollectionConfig,
    make_chunks,
    assert_stores_equal,
    distance: Distance,
) -> None:
    collection = collection_config.model_copy(update={"distance": distance})
    pg, qdrant = pg_store_factory(collection), qdrant_store_factory(collection)
    chunks = [chunk for d in range(6) for chunk in make_chunks(f"doc-{d}", 10, metadata={"d": d})]
    for i, chunk in enumerate(chunks):  # non-unit vectors: dot and euclid keep them as they are
        chunk.embedding = chunk.embedding * (0.5 + i % 7)
    _load(pg, qdrant, chunks)

    qdrant.drop()
    wiped = check_consistency(pg, qdrant, sample_size=10, k=5)
    assert wiped.qdrant_count == 0 and len(wiped.missing_ids) == 60 and wiped.overlap_at_k == 0.0

    report = repair_qdrant(pg, qdrant, batch_size=25)

    assert report.recreated_collection and (report.upserted, report.deleted, report.unchanged) == (60, 0, 0)
    assert_stores_equal(pg, qdrant)
    after = check_consistency(pg, qdrant, sample_size=20, k=5)
    assert after.overlap_at_k == 1.0 and after.sampled == 20
    assert after.missing_ids == [] and after.orphan_ids == []
    assert after.postgres_count == after.qdrant_count == 60
    assert after.consistent
    assert repair_qdrant(pg, qdrant).upserted == 0  # nothing left to do


def test_deleted_points_are_reported_missing_then_restored(
    pg_store: PgVectorStore, qdrant_store: QdrantStore, make_chunks, assert_stores_equal
) -> None:
    chunks = [chunk for d in range(3) for chunk in make_chunks(f"doc-{d}", 10)]
    _load(pg_store, qdrant_store, chunks)
    lost = sorted(chunk.id for chunk in chunks[::3])
    qdrant_store.delete(lost)

    # Every stored vector is sampled, so each lost point is the top hit of its own query in Postgres only.
    report = check_consistency(pg_store, qdrant_store, sample_size=30, k=5)
    assert report.sampled == 30 and report.overlap_at_k < 1.0
    assert report.missing_ids == lost and report.orphan_ids == []
    assert (report.postgres_count, report.qdrant_count) == (30, 30 - len(lost))
    assert not report.consistent
    document = json.loads(json.dumps(report.to_dict()))
    assert document["missing_ids"] == [str(i) for i in lost] and document["consistent"] is False

    repaired = repair_qdrant(pg_store, qdrant_store, batch_size=7)

    assert (repaired.upserted, repaired.deleted, repaired.unchanged) == (len(lost), 0, 30 - len(lost))
    assert not repaired.recreated_collection
    assert_stores_equal(pg_store, qdrant_store)
    assert check_consistency(pg_store, qdrant_store, sample_size=30, k=5).overlap_at_k == 1.0


def test_orphans_and_diverged_points_are_fixed(
    pg_store: PgVectorStore, qdrant_store: QdrantStore, make_chunks, assert_stores_equal
) -> None:
    chunks = make_chunks("doc", 12, metadata={"lang": "en"})
    _load(pg_store, qdrant_store, chunks)
    orphans = make_chunks("gone", 3)
    qdrant_store.upsert(orphans)
    other_vector = make_chunks("doc", 12, seed=123)[4]  # same id, another vector and text
    other_payload = make_chunks("doc", 12, metadata={"lang": "de"})[9]  # same vector, other payload
    qdrant_store.upsert([other_vector, other_payload])

    report = check_consistency(pg_store, qdrant_store, sample_size=12, k=3)
    assert report.orphan_ids == sorted(chunk.id for chunk in orphans) and report.missing_ids == []
    assert report.qdrant_count == 15

    repaired = repair_qdrant(pg_store, qdrant_store, batch_size=5)

    assert (repaired.upserted, repaired.deleted, repaired.unchanged) == (2, 3, 10)
    assert_stores_equal(pg_store, qdrant_store)
    held = qdrant_store.retrieve([chunks[4].id])[chunks[4].id]
    assert held.text == chunks[4].text
    np.testing.assert_allclose(held.embedding, chunks[4].embedding, rtol=1e-5, atol=1e-6)
    final = check_consistency(pg_store, qdrant_store, sample_size=12, k=3)
    assert final.consistent and final.overlap_at_k == 1.0


def test_bulk_load_then_repair_fills_an_empty_collection(
    pg_store: PgVectorStore, qdrant_store: QdrantStore, make_chunks, assert_stores_equal
) -> None:
    pg_store.bulk_load([chunk for d in range(8) for chunk in make_chunks(f"bulk-{d}", 75)])
    assert pg_store.outbox_pending() == 0 and qdrant_store.count() == 0

    report = repair_qdrant(pg_store, qdrant_store, batch_size=250)

    assert (report.upserted, report.unchanged, report.recreated_collection) == (600, 0, False)
    assert_stores_equal(pg_store, qdrant_store)
    consistency = check_consistency(pg_store, qdrant_store, sample_size=25, k=10)
    assert consistency.overlap_at_k == 1.0 and consistency.consistent


def test_empty_stores_are_consistent(pg_store: PgVectorStore, qdrant_store: QdrantStore) -> None:
    report = check_consistency(pg_store, qdrant_store)
    assert (report.sampled, report.overlap_at_k, report.postgres_count, report.qdrant_count) == (0, 1.0, 0, 0)
    assert report.consistent
    assert repair_qdrant(pg_store, qdrant_store).upserted == 0
