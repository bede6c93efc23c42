"""Dual write through the outbox: real PostgreSQL (pgserver) and Qdrant local mode, including outages."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from prometheus_client import REGISTRY

from faro_workloads.core.dual_writer import DualWriter
from faro_workloads.core.outbox import OutboxApplyError, OutboxDrainer
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

pytestmark = pytest.mark.integration


def _metric(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def _wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached before the deadline"
        time.sleep(0.02)


def _writer(pg: PgVectorStore, qdrant: QdrantStore, batch_size: int = 256) -> DualWriter:
    return DualWriter(pg, qdrant, OutboxDrainer(pg, qdrant, batch_size=batch_size))


def test_both_stores_hold_the_same_after_writes(
    pg_store: PgVectorStore, qdrant_store: QdrantStore, make_chunks, make_record, assert_stores_equal
) -> None:
    writer = _writer(pg_store, qdrant_store)
    for d in range(5):
        chunks = make_chunks(f"doc-{d}", 8, metadata={"lang": "en" if d % 2 else "de", "part": d, "w": d / 2})
        result = writer.write_document(make_record(chunks), chunks)
        assert result.qdrant_synced and result.chunks_written == 8 and len(result.point_ids) == 8

    assert pg_store.outbox_pending() == 0
    assert qdrant_store.count() == pg_store.count() == 40
    assert_stores_equal(pg_store, qdrant_store)

    query = make_chunks("query", 1, seed=5)[0].embedding
    for flt in [
        None,
        SearchFilter(doc_ids=["doc-1", "doc-4"]),
        SearchFilter(metadata={"lang": "en"}),
        SearchFilter(doc_ids=["doc-0", "doc-1", "doc-2"], metadata={"lang": "de"}),
        SearchFilter(metadata={"part": 3}),
        SearchFilter(metadata={"w": 1.5, "lang": "en"}),
    ]:
        from_pg = pg_store.search(query, 6, flt)
        from_qdrant = qdrant_store.search(query, 6, flt)
        assert from_pg and [hit.id for hit in from_pg] == [hit.id for hit in from_qdrant], flt
        assert [round(hit.score, 4) for hit in from_pg] == [round(hit.score, 4) for hit in from_qdrant]
        assert [(h.doc_id, h.seq, h.text, h.metadata) for h in from_pg] == [
            (h.doc_id, h.seq, h.text, h.metadata) for h in from_qdrant
        ]


def test_replace_and_delete_propagate_to_both_stores(
    pg_store: PgVectorStore, qdrant_store: QdrantStore, make_chunks, make_record, assert_stores_equal
) -> None:
    writer = _writer(pg_store, qdrant_store)
    original = make_chunks("manual", 6, seed=1)
    writer.write_document(make_record(original), original)
    other = make_chunks("other", 2)
    writer.write_document(make_record(other), other)

    shorter = make_chunks("manual", 4, seed=2)
    replaced = writer.write_document(make_record(shorter), shorter)
    assert replaced.qdrant_synced and len(replaced.point_ids) == 6  # 4 written + 2 stale
    assert qdrant_store.count() == 6
    assert_stores_equal(pg_store, qdrant_store)
    assert qdrant_store.retrieve([shorter[0].id])[shorter[0].id].text == shorter[0].text

    deleted = writer.delete_document("manual")
    assert deleted is not None and deleted.qdrant_synced and deleted.chunks_written == 0
    assert writer.delete_document("manual") is None
    assert {i for ids in qdrant_store.scroll_ids() for i in ids} == {chunk.id for chunk in other}
    assert_stores_equal(pg_store, qdrant_store)
    assert pg_store.outbox_pending() == 0


def test_qdrant_down_during_ingest_loses_nothing(
    pg_store: PgVectorStore,
    qdrant_store: QdrantStore,
    dead_qdrant_store: QdrantStore,
    make_chunks,
    make_record,
    assert_stores_equal,
) -> None:
    dead = dead_qdrant_store
    writer = _writer(pg_store, dead)
    failures_before = _metric("faro_outbox_drain_failures_total")
    queued = []
    for d in range(10):
        chunks = make_chunks(f"doc-{d}", 6)
        result = writer.write_document(make_record(chunks), chunks)
        assert not result.qdrant_synced and "refused" in (result.qdrant_error or "")
        queued.extend(result.point_ids)
    # While still down: a replacement and a deletion, which must propagate later too.
    shorter = make_chunks("doc-3", 2, seed=33)
    assert not writer.write_document(make_record(shorter), shorter).qdrant_synced
    deleted = writer.delete_document("doc-7")
    assert deleted is not None and not deleted.qdrant_synced

    assert pg_store.document_count() == 9 and pg_store.count() == 8 * 6 + 2
    assert set(pg_store.outbox_point_ids()) == set(queued)
    assert pg_store.outbox_pending() == 60 + 6 + 6
    assert _metric("faro_outbox_drain_failures_total") == failures_before + 12
    with pytest.raises(OutboxApplyError):
        OutboxDrainer(pg_store, dead).drain()
    assert pg_store.outbox_pending() == 72

    applied_before = _metric("faro_outbox_applied_total")
    applied = OutboxDrainer(pg_store, qdrant_store, batch_size=16).drain()

    assert applied == 72 and pg_store.outbox_pending() == 0
    assert _metric("faro_outbox_applied_total") == applied_before + 72
    assert _metric("faro_outbox_pending") == 0
    assert qdrant_store.count() == 50
    assert_stores_equal(pg_store, qdrant_store)


def test_drain_respects_max_rows(
    pg_store: PgVectorStore,
    dead_qdrant_store: QdrantStore,
    qdrant_store: QdrantStore,
    make_chunks,
    make_record,
) -> None:
    writer = _writer(pg_store, dead_qdrant_store)
    chunks = make_chunks("a", 10)
    writer.write_document(make_record(chunks), chunks)
    drainer = OutboxDrainer(pg_store, qdrant_store, batch_size=4)
    assert drainer.drain(max_rows=6) == 6
    assert pg_store.outbox_pending() == 4 and qdrant_store.count() == 6
    assert drainer.drain() == 4 and qdrant_store.count() == 10


def test_concurrent_writers_leave_both_stores_equal(
    pg_store: PgVectorStore, qdrant_store: QdrantStore, make_chunks, make_record, assert_stores_equal
) -> None:
    writer = _writer(pg_store, qdrant_store)
    errors: list[BaseException] = []

    def ingest(worker: int) -> None:
        try:
            for version in range(3):  # every worker rewrites a shared document too
                for doc_id in (f"w{worker}-doc", "shared"):
                    chunks = make_chunks(doc_id, 4 + version + worker, seed=worker * 10 + version)
                    writer.write_document(make_record(chunks), chunks)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert pg_store.outbox_pending() == 0 and pg_store.document_count() == 5
    assert_stores_equal(pg_store, qdrant_store)


def test_run_loop_recovers_after_failures(
    pg_store: PgVectorStore,
    qdrant_store_factory: Callable[..., QdrantStore],
    make_chunks,
    make_record,
    assert_stores_equal,
) -> None:
    # A real failure: the Qdrant collection does not exist yet, so every apply is rejected.
    qdrant = qdrant_store_factory(ensure=False)
    for d in range(3):
        chunks = make_chunks(f"doc-{d}", 5)
        pg_store.write_document(make_record(chunks), chunks)
    failures_before = _metric("faro_outbox_drain_failures_total")
    drainer = OutboxDrainer(pg_store, qdrant)
    stop = threading.Event()
    thread = threading.Thread(target=drainer.run, args=(stop,), kwargs={"interval": 0.02}, daemon=True)
    thread.start()
    try:
        _wait_until(lambda: _metric("faro_outbox_drain_failures_total") >= failures_before + 2)
        assert thread.is_alive() and pg_store.outbox_pending() == 15

        qdrant.ensure_collection()  # Qdrant is back
        _wait_until(lambda: pg_store.outbox_pending() == 0)
        assert_stores_equal(pg_store, qdrant)

        later = make_chunks("doc-late", 2)
        pg_store.write_document(make_record(later), later)  # picked up by the running loop
        _wait_until(lambda: pg_store.outbox_pending() == 0)
        assert qdrant.count() == 17
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
