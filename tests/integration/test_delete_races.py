"""A delete and a write of one document on real PostgreSQL: once a delete acknowledged elsewhere (a tombstone
in S3) is applied, no version of the document read before it is written, whether or not PostgreSQL ever
held the document; and a write and a delete of one document take its lock, so neither slips between the
other's statements (the race a delete of a document still being embedded loses otherwise)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psycopg
import pytest

from faro_workloads.core.document_errors import Superseded
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.postgres.documents import lock_documents

pytestmark = pytest.mark.integration


def test_a_version_read_before_an_applied_delete_is_not_written(
    pg_store: PgVectorStore, make_chunks, make_record
) -> None:
    chunks = make_chunks("guide", 3)
    seen = pg_store.deletions(["guide"])  # before the version was read: never deleted
    assert seen == {}

    assert pg_store.delete_document("guide", acknowledged=True) is None  # the tombstone, applied
    with pytest.raises(Superseded):
        pg_store.write_documents([(make_record(chunks), chunks)], deletions_seen={"guide": None})

    assert pg_store.get_document("guide") is None and pg_store.count() == 0
    fresh = pg_store.deletions(["guide"])  # a version read after the delete is written, and clears it
    pg_store.write_documents([(make_record(chunks), chunks)], deletions_seen={"guide": fresh["guide"]})
    assert pg_store.count() == 3 and pg_store.deletions(["guide"]) == {}


def test_a_delete_no_one_acknowledged_notes_nothing_of_an_unknown_document(pg_store: PgVectorStore) -> None:
    assert pg_store.delete_document("never-stored") is None  # local mode's DELETE: a 404, then still unknown
    assert pg_store.deletions(["never-stored"]) == {}


@pytest.mark.parametrize("action", ["write", "delete"])
def test_a_write_or_delete_waits_for_the_documents_lock(
    pg_store: PgVectorStore, make_chunks, make_record, action: str
) -> None:
    chunks = make_chunks("guide", 2)
    run: Callable[[], object] = (
        (lambda: pg_store.write_documents([(make_record(chunks), chunks)]))
        if action == "write"
        else (lambda: pg_store.delete_document("guide", acknowledged=True))
    )
    done = threading.Event()
    worker = threading.Thread(target=lambda: (run(), done.set()), daemon=True)
    with psycopg.connect(pg_store._config.dsn.get_secret_value()) as holder:  # another writer's transaction
        lock_documents(holder, pg_store._tables, ["guide"])
        worker.start()
        waited = _waits_on_an_advisory_lock(holder, pg_store._tables, "guide")
        finished_early = done.is_set()
        holder.commit()
    worker.join(30)
    assert waited and not finished_early, f"the {action} did not wait for the document's lock"
    assert done.is_set()


def _waits_on_an_advisory_lock(conn: psycopg.Connection, tables, doc_id: str) -> bool:
    """Whether another session comes to wait on ``doc_id``'s lock within 15 s (polled in ``conn``'s open
    transaction: each statement there reads pg_locks afresh)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        waiting = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND NOT granted"
            " AND classid = hashtext(%s)::oid AND objid = hashtext(%s)::oid",
            (tables.documents.as_string(conn), doc_id),
        ).fetchone()
        if waiting and waiting[0]:
            return True
        time.sleep(0.05)
    return False
