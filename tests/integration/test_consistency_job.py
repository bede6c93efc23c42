"""The consistency job's core (`faro_workloads.consistency_job`) on fixture stores: overlap, counts, missing
and orphan ids, repair, the metrics it pushes.

Real parts only: PostgreSQL + pgvector (pgserver), qdrant-client local mode in memory, and the Debian
``prometheus-pushgateway`` on a free 127.0.0.1 port (the ``pushgateway`` fixture), whose /metrics the tests
scrape (``tests/support/consistency_job.py``).
"""

from __future__ import annotations

import json

import pytest

from faro_workloads.consistency_job import (
    ExitCode,
    Outcome,
    StoreUnavailable,
    metrics_registry,
    push_metrics,
    result_document,
    run_consistency,
    run_job,
)
from faro_workloads.contract.settings import (
    CollectionConfig,
    EmbeddingConfig,
    FaroSettings,
    QdrantConfig,
)
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

from support.consistency_job import (
    CHECK_ALL,
    PIPELINE,
    POINTS,
    K,
    assert_grouped,
    scrape,
    seed,
)

pytestmark = pytest.mark.integration


def test_equal_stores_are_consistent(pg_store: PgVectorStore, qdrant_store: QdrantStore, make_chunks) -> None:
    seed(pg_store, qdrant_store, make_chunks)

    result = run_consistency(pg_store, qdrant_store, CHECK_ALL)

    assert result.ok and result.outcome is Outcome.CONSISTENT and result.exit_code is ExitCode.OK
    assert result.repair is None and result.after is None and result.final is result.before
    assert (result.final.overlap_at_k, result.final.sampled, result.final.k) == (1.0, POINTS, K)
    assert (result.final.postgres_count, result.final.qdrant_count) == (POINTS, POINTS)
    document = json.loads(json.dumps(result_document(result, pipeline=PIPELINE, collection="c")))
    assert document["verdict"] == "ok" and document["result"] == "Consistent" and document["problems"] == []
    assert document["before"]["missing_ids"] == [] and document["after"] is None


def test_orphans_are_detected_then_deleted_by_repair(
    pg_store: PgVectorStore, qdrant_store: QdrantStore, make_chunks, assert_stores_equal
) -> None:
    seed(pg_store, qdrant_store, make_chunks)
    orphans = make_chunks("deleted-doc", 4)
    qdrant_store.upsert(orphans)
    orphan_ids = sorted(chunk.id for chunk in orphans)

    checked = run_consistency(pg_store, qdrant_store, CHECK_ALL)

    assert checked.outcome is Outcome.DRIFT and checked.exit_code is ExitCode.DRIFT
    assert checked.final.orphan_ids == orphan_ids and checked.final.missing_ids == []
    # Orphans also answer Qdrant's searches, so they push Postgres's neighbours out of its top k.
    assert checked.final.overlap_at_k < 1.0 and checked.problems[-1] == "4 orphan points in qdrant"

    repaired = run_consistency(pg_store, qdrant_store, CHECK_ALL.model_copy(update={"repair": True}))

    assert repaired.before.orphan_ids == orphan_ids
    assert repaired.repair is not None and (repaired.repair.deleted, repaired.repair.upserted) == (4, 0)
    assert repaired.after is not None and repaired.after.consistent and repaired.after.overlap_at_k == 1.0
    assert repaired.outcome is Outcome.REPAIRED and repaired.exit_code is ExitCode.OK
    assert_stores_equal(pg_store, qdrant_store)
    document = result_document(repaired, pipeline=PIPELINE, collection="c")
    assert document["before"]["orphan_ids"] == [str(i) for i in orphan_ids]
    assert document["after"]["orphan_count"] == 0 and document["repair"]["deleted"] == 4


def test_overlap_below_minimum_is_drift_even_when_ids_agree(
    pg_store: PgVectorStore, qdrant_store: QdrantStore, make_chunks
) -> None:
    seed(pg_store, qdrant_store, make_chunks)
    # Same ids, but Qdrant holds other vectors for half the points: its neighbourhoods differ.
    qdrant_store.upsert([c for d in range(2) for c in make_chunks(f"doc-{d}", POINTS // 4, seed=99 + d)])

    result = run_consistency(pg_store, qdrant_store, CHECK_ALL)

    assert result.final.missing_ids == [] and result.final.orphan_ids == []
    assert result.final.overlap_at_k < CHECK_ALL.min_overlap
    assert result.outcome is Outcome.DRIFT and result.exit_code is ExitCode.DRIFT
    assert len(result.problems) == 1 and result.problems[0].startswith(f"overlap@{K} ")


def test_id_lists_are_capped_but_counted(
    pg_store: PgVectorStore, qdrant_store: QdrantStore, make_chunks
) -> None:
    chunks = seed(pg_store, qdrant_store, make_chunks)
    lost = sorted(chunk.id for chunk in chunks[:K])
    qdrant_store.delete(lost)

    result = run_consistency(pg_store, qdrant_store, CHECK_ALL)
    document = result_document(result, pipeline=PIPELINE, collection="c", id_limit=3)

    assert document["before"]["missing_count"] == K
    assert document["before"]["missing_ids"] == [str(i) for i in lost[:3]]


def test_pushed_metrics_keep_the_last_success_of_an_earlier_run(
    pg_store: PgVectorStore,
    qdrant_store: QdrantStore,
    collection_config: CollectionConfig,
    make_chunks,
    pushgateway: str,
) -> None:
    chunks = seed(pg_store, qdrant_store, make_chunks)
    name = collection_config.name

    good = run_consistency(pg_store, qdrant_store, CHECK_ALL)
    push_metrics(metrics_registry(good), pushgateway, pipeline=PIPELINE, collection=name)
    first = scrape(pushgateway, name)
    assert first.value("faro_consistency_last_success_timestamp_seconds") == pytest.approx(
        good.started_at.timestamp()
    )

    qdrant_store.delete([chunk.id for chunk in chunks[:K]])
    bad = run_consistency(pg_store, qdrant_store, CHECK_ALL)
    assert not bad.ok
    push_metrics(metrics_registry(bad), pushgateway, pipeline=PIPELINE, collection=name)
    second = scrape(pushgateway, name)

    # The failing run replaced every gauge it carries, and left the earlier success in place.
    assert second.value("faro_consistency_missing_points") == K
    assert second.value("faro_consistency_overlap_ratio") == pytest.approx(bad.final.overlap_at_k)
    assert second.value("faro_consistency_last_run_timestamp_seconds") == pytest.approx(
        bad.started_at.timestamp()
    )
    assert second.value("faro_consistency_last_success_timestamp_seconds") == pytest.approx(
        good.started_at.timestamp()
    )
    assert_grouped(second, name)


def test_unreachable_qdrant_is_one_readable_error(
    pg_store_factory, collection_config: CollectionConfig, make_chunks, dead_qdrant_url: str
) -> None:
    pg_store_factory(collection_config).bulk_load(make_chunks("doc", 3))
    settings = FaroSettings(
        postgres=pg_store_factory.config,
        collection=collection_config,
        embedding=EmbeddingConfig(dimension=collection_config.dimension),
        qdrant=QdrantConfig(url=dead_qdrant_url, timeout_seconds=0.5),
    )

    with pytest.raises(StoreUnavailable, match=rf"^cannot read Qdrant at {dead_qdrant_url}: ") as raised:
        run_job(settings)

    assert "\n" not in str(raised.value)
