"""Documents' states on real PostgreSQL and Qdrant (local mode's documents API, and the PostgreSQL side the
chunking service reads): searchable, embedded while Qdrant is down, deleted, failed with its reason."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from fastapi.testclient import TestClient

from faro_workloads.contract.settings import CollectionConfig
from faro_workloads.core.document_state import DocumentState
from faro_workloads.core.documents import ChunkSpan
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.postgres.pool import PostgresPool
from faro_workloads.data_plane import DataPlane

pytestmark = pytest.mark.integration

DIMENSION = 32
TEXT = "# Runbook\n\nRestart the workers, then drain the outbox.\n"


def _plane(pg: PgVectorStore, qdrant) -> DataPlane:
    return DataPlane(pg, qdrant, HashingEmbedder(dimension=pg.collection.dimension))


@pytest.fixture
def api(pg_store_factory, qdrant_store_factory) -> Iterator[TestClient]:
    pg = pg_store_factory(dimension=DIMENSION)
    plane = _plane(pg, qdrant_store_factory(pg.collection))
    with TestClient(plane.api()) as client:
        yield client
    plane.close()


def test_a_stored_document_is_searchable_and_a_deleted_one_reads_deleted(api: TestClient) -> None:
    created = api.post("/v1/documents", json={"doc_id": "ops/runbook", "text": TEXT, "format": "markdown"})
    assert created.status_code == 201, created.text

    stored = api.get("/v1/documents/ops/runbook").json()
    assert stored["state"] == "searchable" and stored["reason"] is None
    assert stored["content_hash"] == stored["indexed_content_hash"] == created.json()["content_hash"]
    listed = api.get("/v1/documents").json()["documents"]
    assert [(d["doc_id"], d["state"]) for d in listed] == [("ops/runbook", "searchable")]

    assert api.delete("/v1/documents/ops/runbook").status_code == 204
    deleted = api.get("/v1/documents/ops/runbook")
    assert deleted.status_code == 410  # Gone, with the state and since when
    assert {k: deleted.json()[k] for k in ("state", "content_hash", "chunks", "metadata")} == {
        "state": "deleted",
        "content_hash": None,
        "chunks": None,
        "metadata": {},
    }
    assert api.get("/v1/documents").json()["documents"] == []
    assert api.delete("/v1/documents/ops/runbook").status_code == 404  # deleting again finds nothing
    assert api.get("/v1/documents/never-seen").status_code == 404

    again = api.post("/v1/documents", json={"doc_id": "ops/runbook", "text": TEXT})
    assert again.status_code == 201  # the delete mark does not hold the document back
    assert api.get("/v1/documents/ops/runbook").json()["state"] == "searchable"


def test_while_qdrant_is_down_a_document_reads_embedded_then_searchable_once_drained(
    pg_store_factory, qdrant_store_factory, collection_config, dead_qdrant_store
) -> None:
    pg = pg_store_factory(collection_config)
    plane = _plane(pg, dead_qdrant_store)
    try:
        with TestClient(plane.api()) as client:
            client.post("/v1/documents", json={"doc_id": "guide", "text": TEXT})
            assert client.get("/v1/documents/guide").json()["state"] == "embedded"
        # Qdrant back: what the outbox kept reaches it, and the document is in both stores
        healthy = _plane(pg, qdrant_store_factory(collection_config))
        try:
            healthy.ingest_path.drain()
            with TestClient(healthy.api()) as client:
                assert client.get("/v1/documents/guide").json()["state"] == "searchable"
        finally:
            healthy.close()
    finally:
        plane.close()


def test_a_delete_reads_deleting_until_qdrant_has_let_go_of_the_points(
    pg_store_factory, qdrant_store_factory, collection_config, dead_qdrant_store
) -> None:
    pg = pg_store_factory(collection_config)
    qdrant = qdrant_store_factory(collection_config)
    healthy = _plane(pg, qdrant)
    try:
        with TestClient(healthy.api()) as client:
            client.post("/v1/documents", json={"doc_id": "guide", "text": TEXT})
        down = _plane(pg, dead_qdrant_store)  # Qdrant unreachable while the delete is answered
        try:
            with TestClient(down.api()) as client:
                assert client.delete("/v1/documents/guide").status_code == 204
                state = client.get("/v1/documents/guide")
                assert (state.status_code, state.json()["state"]) == (200, "deleting")
        finally:
            down.close()
        assert qdrant.count() > 0  # Qdrant still answers with the document's points
        healthy.ingest_path.drain()
        with TestClient(healthy.api()) as client:
            gone = client.get("/v1/documents/guide")
            assert (gone.status_code, gone.json()["state"]) == (410, "deleted")
        assert qdrant.count() == 0
    finally:
        healthy.close()


def test_a_failure_is_marked_with_its_reason_and_cleared_when_the_document_is_stored(
    pg_store_factory, qdrant_store_factory
) -> None:
    pg = pg_store_factory(dimension=DIMENSION)
    plane = _plane(pg, qdrant_store_factory(pg.collection))
    try:
        pg.mark_failed("broken", "", "dead-lettered after 3 receives: chunk object is not JSON")
        indexed, marks = pg.document_evidence(["broken", "unknown"])
        assert indexed == {} and set(marks) == {"broken"}
        assert (marks["broken"].kind, marks["broken"].reason) == (
            "failed",
            "dead-lettered after 3 receives: chunk object is not JSON",
        )
        plane.ingest.ingest_chunks("broken", "h1", "s3", {}, _spans())
        indexed, marks = pg.document_evidence(["broken"])
        assert set(indexed) == {"broken"} and marks == {}

        # a failure of the version PostgreSQL already holds is not a failure of the document
        pg.mark_failed("broken", "h1", "a late redelivery failed")
        assert pg.document_evidence(["broken"])[1] == {}
        pg.mark_failed("broken", "h2", "the next version failed")
        assert pg.document_evidence(["broken"])[1]["broken"].content_hash == "h2"
    finally:
        plane.close()


def test_deleted_marks_are_pruned_after_the_retention(pg_store_factory, qdrant_store_factory) -> None:
    pg = pg_store_factory(dimension=DIMENSION)
    plane = _plane(pg, qdrant_store_factory(pg.collection))
    try:
        plane.ingest.ingest_chunks("gone", "h1", "s3", {}, _spans())
        plane.ingest.delete("gone")
        pg.mark_failed("failing", "", "poison")
        assert pg.prune_deleted_marks(older_than_seconds=3600) == 0
        assert pg.prune_deleted_marks(older_than_seconds=0) == 1
        assert set(pg.document_evidence(["gone", "failing"])[1]) == {"failing"}  # failures stay
    finally:
        plane.close()


def test_the_read_only_reader_sees_states_and_cannot_write(postgres_config, pg_store_factory) -> None:
    pg = pg_store_factory(dimension=DIMENSION)
    pg.mark_failed("doc", "", "poison")
    pool = PostgresPool(postgres_config, "reader", read_only=True)
    reader = PgVectorStore(postgres_config, pg.collection, pool=pool)
    try:
        assert reader.document_evidence(["doc"])[1]["doc"].reason == "poison"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            reader.mark_failed("doc", "", "not allowed")
        # a collection whose tables nobody made yet: no evidence, not an error
        empty = PgVectorStore(postgres_config, CollectionConfig(name="not_made_yet", dimension=4), pool=pool)
        assert empty.document_evidence(["doc"]) == ({}, {})
    finally:
        pool.close()


def _spans() -> list[ChunkSpan]:
    return [ChunkSpan("restart the workers", 0, 19)]


def test_states_are_the_contract_of_the_api(api: TestClient) -> None:
    schema = api.get("/openapi.json").json()["components"]["schemas"]
    assert schema["DocumentState"]["enum"] == [state.value for state in DocumentState]
