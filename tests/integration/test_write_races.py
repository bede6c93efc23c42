"""Writes and deletes of the same documents racing each other, forced into one interleaving at a time.

Real PostgreSQL (pgserver) and Qdrant local mode. The test holds real locks from a connection of its own:
``LOCK TABLE <outbox> IN SHARE MODE`` keeps a writer's transaction open at its critical point (documents row
and chunks written, not committed: the outbox INSERT is its last statement, and waits), and ``SELECT ... FOR
UPDATE`` on documents rows makes writers wait where a deadlock can form. The competing operation is started
on another thread, the test waits until PostgreSQL reports it waiting on the expected session
(``pg_blocking_pids``), and only then releases. No sleep decides the order; the polls only wait for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from pydantic import SecretStr

from faro_workloads.contract.settings import ChunkingConfig, CollectionConfig, PostgresConfig
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.documents import Chunk
from faro_workloads.core.dual_writer import DualWriter
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.ingest import IncomingDocument, IngestService
from faro_workloads.core.outbox import OutboxDrainer
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

pytestmark = pytest.mark.integration

WAIT = 30.0  # seconds to wait for PostgreSQL to show the expected lock wait (never reached on success)
RETRY_LOGGER = "faro_workloads.core.stores.transaction_retry"


class Background:
    """``function(*args)`` on a thread of its own; :meth:`result` joins it, then returns or raises."""

    def __init__(self, function: Callable[..., Any], *args: Any) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(function, args), daemon=True)
        self._thread.start()

    def _run(self, function: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self._value = function(*args)
        except BaseException as exc:
            self._error = exc

    def result(self) -> Any:
        self._thread.join(WAIT)
        assert not self._thread.is_alive(), "the operation did not finish"
        if self._error is not None:
            raise self._error
        return self._value


class Sessions:
    """The test's own PostgreSQL sessions: one holds locks in an open transaction, one watches lock waits."""

    def __init__(self, dsn: str, schema: str, collection: str) -> None:
        self._schema, self._collection = schema, collection
        self._watch = psycopg.connect(dsn, autocommit=True)
        self._hold = psycopg.connect(dsn)  # not autocommit: the first statement opens the holding transaction
        self.holder = self._hold.info.backend_pid

    def _table(self, suffix: str) -> sql.Identifier:
        return sql.Identifier(self._schema, f"{self._collection}_{suffix}")

    def hold_outbox(self) -> None:
        """Block every INSERT into the outbox (a write's or a delete's last statement) until released."""
        self._hold.execute(sql.SQL("LOCK TABLE {} IN SHARE MODE").format(self._table("outbox")))

    def hold_documents(self, *doc_ids: str) -> None:
        """Lock these documents rows (waiting while another transaction holds one) until :meth:`release`.

        The session's deadlock_timeout is long, so in a deadlock with a writer the writer's check (its default
        deadlock_timeout) runs first and the writer is the transaction PostgreSQL aborts.
        """
        self._hold.execute("SET LOCAL deadlock_timeout = '5min'")
        self._hold.execute(
            sql.SQL("SELECT doc_id FROM {} WHERE doc_id = ANY(%s) ORDER BY doc_id FOR UPDATE").format(
                self._table("documents")
            ),
            (list(doc_ids),),
        )

    def release(self) -> None:
        self._hold.commit()

    def blocked_by(self, *pids: int) -> set[int]:
        """The sessions now waiting for a lock held by one of ``pids``."""
        rows = self._watch.execute(
            "SELECT pid FROM pg_stat_activity WHERE pg_blocking_pids(pid) && %s::int[]", (list(pids),)
        ).fetchall()
        return {row[0] for row in rows}

    def wait_for_waiter(self, *pids: int, ignore: set[int] | None = None, what: str) -> int:
        """The pid of a session (not in ``ignore``) that waits for a lock one of ``pids`` holds."""
        deadline = time.monotonic() + WAIT
        while not (waiting := self.blocked_by(*pids) - (ignore or set())):
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.01)
        return min(waiting)

    def close(self) -> None:
        self._hold.close()
        self._watch.close()


@pytest.fixture
def sessions(postgres_config: PostgresConfig, collection_config: CollectionConfig) -> Iterator[Sessions]:
    opened = Sessions(
        postgres_config.dsn.get_secret_value(), postgres_config.schema_name, collection_config.name
    )
    yield opened
    opened.close()


def _writer(pg: PgVectorStore, qdrant: QdrantStore) -> DualWriter:
    return DualWriter(pg, qdrant, OutboxDrainer(pg, qdrant))


def _chunk_rows(pg: PgVectorStore, doc_id: str) -> list[Chunk]:
    return [chunk for batch in pg.iter_chunks() for chunk in batch if chunk.doc_id == doc_id]


def _qdrant_ids(qdrant: QdrantStore) -> set[Any]:
    return {point for ids in qdrant.scroll_ids() for point in ids}


def _assert_holds_exactly(pg: PgVectorStore, qdrant: QdrantStore, doc_id: str, chunks: list[Chunk]) -> None:
    """``doc_id`` is stored whole as ``chunks`` (documents row and chunk rows agree), in both stores."""
    record = pg.get_document(doc_id)
    assert record is not None and record.content_hash == chunks[0].content_hash
    assert record.chunk_count == len(chunks)
    stored = sorted(_chunk_rows(pg, doc_id), key=lambda chunk: chunk.seq)
    assert [(c.id, c.text) for c in stored] == [(c.id, c.text) for c in chunks]
    held = qdrant.retrieve([c.id for c in chunks])
    assert {point: held[point].text for point in held} == {c.id: c.text for c in chunks}


def _retries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == RETRY_LOGGER]


def test_delete_racing_a_replace_leaves_nothing_behind(
    pg_store: PgVectorStore,
    qdrant_store: QdrantStore,
    sessions: Sessions,
    make_chunks,
    make_record,
    assert_stores_equal,
) -> None:
    writer = _writer(pg_store, qdrant_store)
    other = make_chunks("other", 3)
    writer.write_document(make_record(other), other)
    old = make_chunks("doc", 4, seed=1)
    writer.write_document(make_record(old), old)
    new = make_chunks("doc", 28, seed=2)

    sessions.hold_outbox()
    replacing = Background(writer.write_document, make_record(new), new)
    replacer = sessions.wait_for_waiter(sessions.holder, what="the replace to reach its outbox INSERT")
    deleting = Background(writer.delete_document, "doc")
    sessions.wait_for_waiter(replacer, what="the delete to wait for the replace")
    sessions.release()

    replaced, deleted = replacing.result(), deleting.result()
    assert replaced.qdrant_synced and replaced.chunks_written == 28
    assert deleted is not None and deleted.qdrant_synced  # 204: the document existed
    # Delete after replace: nothing of the document is left anywhere.
    assert pg_store.get_document("doc") is None
    assert _chunk_rows(pg_store, "doc") == []
    assert set(deleted.point_ids) == {chunk.id for chunk in new}
    assert pg_store.outbox_pending() == 0
    assert _qdrant_ids(qdrant_store) == {chunk.id for chunk in other} == pg_store.all_ids()
    assert_stores_equal(pg_store, qdrant_store)


def test_delete_racing_a_batched_ingest_leaves_nothing_behind(
    pg_store: PgVectorStore, qdrant_store: QdrantStore, sessions: Sessions, assert_stores_equal
) -> None:
    """The same race through IngestService.ingest_many (two concurrent committers)."""
    chunker = Chunker(ChunkingConfig(strategy="recursive", size=64, overlap=8, tokenizer="chars"))
    service = IngestService(
        chunker,
        HashingEmbedder(dimension=pg_store.collection.dimension),
        pg_store,
        _writer(pg_store, qdrant_store),
    )

    def document(doc_id: str, words: int) -> IncomingDocument:
        text = " ".join(f"{doc_id}-word{n}" for n in range(words))
        return IncomingDocument(doc_id=doc_id, text=text, source="test")

    created = list(service.ingest_many([document("a", 20), document("b", 20)]))
    assert [r.status for r in created] == ["created"] * 2

    sessions.hold_outbox()
    ingesting = Background(lambda: list(service.ingest_many([document("a", 200), document("b", 200)])))
    committer = sessions.wait_for_waiter(sessions.holder, what="a batch to reach its outbox INSERT")
    deleting = Background(service.delete, "a")
    sessions.wait_for_waiter(committer, what="the delete to wait for the batch")
    sessions.release()

    results = ingesting.result()
    assert [(r.doc_id, r.status) for r in results] == [("a", "replaced"), ("b", "replaced")]
    assert results[0].chunks > created[0].chunks and deleting.result() is True
    assert pg_store.get_document("a") is None and _chunk_rows(pg_store, "a") == []
    b = pg_store.get_document("b")
    assert b is not None and b.chunk_count == len(_chunk_rows(pg_store, "b")) == results[1].chunks
    assert pg_store.outbox_pending() == 0
    assert_stores_equal(pg_store, qdrant_store)


def test_delete_racing_a_first_time_create_waits_for_it_and_deletes_it_whole(
    pg_store: PgVectorStore, qdrant_store: QdrantStore, sessions: Sessions, make_chunks, make_record
) -> None:
    """A document not committed yet is locked by its create all the same: the delete waits for the create
    to commit, then deletes every chunk it wrote, from both stores (it neither slips before the create, nor
    leaves part of it)."""
    writer = _writer(pg_store, qdrant_store)
    new = make_chunks("doc", 12)

    sessions.hold_outbox()
    creating = Background(writer.write_document, make_record(new), new)
    creator = sessions.wait_for_waiter(sessions.holder, what="the create to reach its outbox INSERT")
    deleting = Background(writer.delete_document, "doc")
    sessions.wait_for_waiter(creator, what="the delete to wait for the create")
    sessions.release()

    assert creating.result().qdrant_synced and deleting.result() is not None
    assert pg_store.get_document("doc") is None
    assert pg_store.all_ids() == _qdrant_ids(qdrant_store) == set()
    assert pg_store.outbox_pending() == 0


def test_replace_racing_a_delete_that_came_first_stores_the_replacement(
    pg_store: PgVectorStore, qdrant_store: QdrantStore, sessions: Sessions, make_chunks, make_record
) -> None:
    writer = _writer(pg_store, qdrant_store)
    old = make_chunks("doc", 4, seed=1)
    writer.write_document(make_record(old), old)
    new = make_chunks("doc", 9, seed=2)

    sessions.hold_outbox()
    deleting = Background(writer.delete_document, "doc")
    deleter = sessions.wait_for_waiter(sessions.holder, what="the delete to reach its outbox INSERT")
    replacing = Background(writer.write_document, make_record(new), new)
    sessions.wait_for_waiter(deleter, what="the replace to wait for the delete")
    sessions.release()

    assert deleting.result() is not None and replacing.result().qdrant_synced
    _assert_holds_exactly(pg_store, qdrant_store, "doc", new)
    assert pg_store.all_ids() == _qdrant_ids(qdrant_store) == {chunk.id for chunk in new}
    assert pg_store.outbox_pending() == 0


def test_two_replaces_of_one_document_leave_the_later_one(
    pg_store: PgVectorStore,
    qdrant_store: QdrantStore,
    sessions: Sessions,
    make_chunks,
    make_record,
    assert_stores_equal,
) -> None:
    writer = _writer(pg_store, qdrant_store)
    old = make_chunks("doc", 4, seed=1)
    writer.write_document(make_record(old), old)
    longer, shorter = make_chunks("doc", 28, seed=2), make_chunks("doc", 6, seed=3)

    sessions.hold_outbox()
    first = Background(writer.write_document, make_record(longer), longer)
    first_pid = sessions.wait_for_waiter(sessions.holder, what="the first replace to reach its outbox INSERT")
    second = Background(writer.write_document, make_record(shorter), shorter)
    sessions.wait_for_waiter(first_pid, what="the second replace to wait for the first")
    sessions.release()

    assert first.result().qdrant_synced and second.result().qdrant_synced
    _assert_holds_exactly(pg_store, qdrant_store, "doc", shorter)
    assert pg_store.outbox_pending() == 0
    assert_stores_equal(pg_store, qdrant_store)


def test_batches_naming_documents_in_opposite_orders_do_not_deadlock(
    pg_store: PgVectorStore,
    qdrant_store: QdrantStore,
    sessions: Sessions,
    make_chunks,
    make_record,
    caplog: pytest.LogCaptureFixture,
    assert_stores_equal,
) -> None:
    """Each write locks its documents in doc_id order, whatever order the batch names them in."""
    writer = _writer(pg_store, qdrant_store)
    for doc_id in ("a", "b"):
        chunks = make_chunks(doc_id, 3, seed=0)
        writer.write_document(make_record(chunks), chunks)
    first = {doc_id: make_chunks(doc_id, 5, seed=1) for doc_id in ("b", "a")}
    second = {doc_id: make_chunks(doc_id, 7, seed=2) for doc_id in ("a", "b")}
    caplog.set_level(logging.WARNING, logger=RETRY_LOGGER)

    sessions.hold_documents("b")
    writing_first = Background(writer.write_documents, [(make_record(c), c) for c in first.values()])
    first_pid = sessions.wait_for_waiter(sessions.holder, what="the first batch to wait for document b")
    writing_second = Background(writer.write_documents, [(make_record(c), c) for c in second.values()])
    sessions.wait_for_waiter(
        sessions.holder, first_pid, ignore={first_pid}, what="the second batch to wait for a lock"
    )
    sessions.release()

    assert all(result.qdrant_synced for result in writing_first.result() + writing_second.result())
    assert _retries(caplog) == []  # no deadlock was detected, so nothing was retried
    for doc_id in ("a", "b"):  # the second batch waited for the first one, then replaced both documents
        _assert_holds_exactly(pg_store, qdrant_store, doc_id, second[doc_id])
    assert pg_store.outbox_pending() == 0
    assert_stores_equal(pg_store, qdrant_store)


def test_a_writer_aborted_by_a_deadlock_retries_and_succeeds(
    postgres_config: PostgresConfig,
    collection_config: CollectionConfig,
    qdrant_store: QdrantStore,
    sessions: Sessions,
    make_chunks,
    make_record,
    caplog: pytest.LogCaptureFixture,
    assert_stores_equal,
) -> None:
    """A real deadlock: the writer holds document a and waits for b, which the test's session holds and then
    asks for a. PostgreSQL aborts the writer (40P01); the write runs again and commits."""
    # The writer's sessions check for deadlocks after 3 s (server default: 1 s), leaving the test's session
    # ample time to close the cycle before the check; the test's own session waits 5 min before checking.
    dsn = make_conninfo(postgres_config.dsn.get_secret_value(), options="-c deadlock_timeout=3s")
    pg = PgVectorStore(postgres_config.model_copy(update={"dsn": SecretStr(dsn)}), collection_config)
    try:
        pg.ensure_schema()
        writer = _writer(pg, qdrant_store)
        for doc_id in ("a", "b"):
            chunks = make_chunks(doc_id, 3, seed=0)
            writer.write_document(make_record(chunks), chunks)
        new = {doc_id: make_chunks(doc_id, 5, seed=1) for doc_id in ("a", "b")}
        caplog.set_level(logging.WARNING, logger=RETRY_LOGGER)

        sessions.hold_documents("b")
        writing = Background(writer.write_documents, [(make_record(c), c) for c in new.values()])
        sessions.wait_for_waiter(sessions.holder, what="the writer to hold a and wait for b")
        sessions.hold_documents("a")  # returns once PostgreSQL has aborted the writer and released a
        sessions.release()

        results = writing.result()
        assert [result.doc_id for result in results] == ["a", "b"]
        assert all(result.qdrant_synced and result.chunks_written == 5 for result in results)
        retries = _retries(caplog)
        assert len(retries) == 1 and "40P01" in retries[0], retries
        for doc_id, chunks in new.items():
            _assert_holds_exactly(pg, qdrant_store, doc_id, chunks)
        assert pg.outbox_pending() == 0
        assert_stores_equal(pg, qdrant_store)
    finally:
        pg.close()
