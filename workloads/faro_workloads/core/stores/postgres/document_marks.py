"""``{name}_document_marks``: one row per document that failed or was deleted, what a document's state is
told by when ``{name}_documents`` no longer (or never) holds it (:mod:`faro_workloads.core.document_state`).

A failure is marked by the embedding engine when it dead-letters a document's message, with the reason; a
delete in the transaction that deletes the document (a delete acknowledged elsewhere, a tombstone's, even
when PostgreSQL never held the document: a version read before it must not be written after it). Writing
the document clears its mark in the write's transaction, so a mark never outlives a stored version. Deleted
marks older than the retention are pruned by the consistency job.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg
from psycopg import sql

from faro_workloads.core.document_state import DocumentMark, IndexedDocument, MarkKind
from faro_workloads.core.documents import DocumentRecord
from faro_workloads.core.stores.postgres.pool import PostgresPool
from faro_workloads.core.stores.postgres.record_columns import RECORD_COLUMNS
from faro_workloads.core.stores.postgres.tables import CollectionTables, relation_exists

MAX_REASON_CHARS = 1000


def create_marks_table(conn: psycopg.Connection, tables: CollectionTables) -> None:
    """``{name}_document_marks`` (idempotent)."""
    conn.execute(
        sql.SQL(
            """
            CREATE TABLE IF NOT EXISTS {} (
                doc_id text PRIMARY KEY,
                kind text NOT NULL CHECK (kind IN ('failed', 'deleted')),
                content_hash text NOT NULL DEFAULT '',
                reason text NOT NULL DEFAULT '',
                marked_at timestamptz NOT NULL DEFAULT now()
            )
            """
        ).format(tables.marks)
    )


def put_mark(
    conn: psycopg.Connection,
    tables: CollectionTables,
    doc_id: str,
    kind: MarkKind,
    content_hash: str = "",
    reason: str = "",
) -> None:
    """Mark ``doc_id`` (replacing its mark), in the caller's transaction."""
    conn.execute(
        sql.SQL(
            """
            INSERT INTO {} (doc_id, kind, content_hash, reason) VALUES (%s, %s, %s, %s)
            ON CONFLICT (doc_id) DO UPDATE SET kind = EXCLUDED.kind, content_hash = EXCLUDED.content_hash,
                reason = EXCLUDED.reason, marked_at = now()
            """
        ).format(tables.marks),
        (doc_id, kind, content_hash, reason[:MAX_REASON_CHARS]),
    )


def deletions(
    conn: psycopg.Connection, tables: CollectionTables, doc_ids: Sequence[str]
) -> dict[str, datetime]:
    """When each of those of ``doc_ids`` marked deleted was deleted, by doc_id (the caller's transaction)."""
    rows = conn.execute(
        sql.SQL("SELECT doc_id, marked_at FROM {} WHERE doc_id = ANY(%s) AND kind = 'deleted'").format(
            tables.marks
        ),
        (list(doc_ids),),
    ).fetchall()
    return dict(rows)


def clear_marks(conn: psycopg.Connection, tables: CollectionTables, doc_ids: Sequence[str]) -> None:
    conn.execute(sql.SQL("DELETE FROM {} WHERE doc_id = ANY(%s)").format(tables.marks), (list(doc_ids),))


class PostgresDocumentMarks:
    """Marks failures, and reads what a document's state is worked out from."""

    def __init__(self, pool: PostgresPool, tables: CollectionTables) -> None:
        self._pool = pool
        self._tables = tables

    def mark_failed(self, doc_id: str, content_hash: str, reason: str) -> None:
        """Note that ``doc_id`` (version ``content_hash``, "" when unknown) will not be indexed, and why.

        A version PostgreSQL already holds is not marked: it is indexed, whatever failed later.
        """
        tables = self._tables

        def mark(conn: psycopg.Connection) -> None:
            stored = conn.execute(
                sql.SQL("SELECT content_hash FROM {} WHERE doc_id = %s").format(tables.documents), (doc_id,)
            ).fetchone()
            if stored is None or not content_hash or stored[0] != content_hash:
                put_mark(conn, tables, doc_id, "failed", content_hash, reason)

        self._pool.write("mark_failed", mark)

    def deletions(self, doc_ids: Sequence[str]) -> dict[str, datetime]:
        """When each of those of ``doc_ids`` marked deleted was deleted: what a write of a version read
        elsewhere hands its transaction to compare (:meth:`PostgresDocuments.write_documents`)."""
        with self._pool.transaction("deletions") as conn:
            return deletions(conn, self._tables, doc_ids)

    def document_evidence(
        self, doc_ids: Sequence[str]
    ) -> tuple[dict[str, IndexedDocument], dict[str, DocumentMark]]:
        """For those of ``doc_ids`` PostgreSQL knows: their records with whether Qdrant work is queued for
        them in the live generation, and their marks (one transaction; nothing when the collection's tables
        do not exist yet)."""
        tables, ids = self._tables, list(doc_ids)
        with self._pool.transaction("document_evidence") as conn:
            if not relation_exists(conn, tables.marks):
                return {}, {}
            records = conn.execute(
                sql.SQL(f"SELECT {RECORD_COLUMNS} FROM {{}} WHERE doc_id = ANY(%s)").format(tables.documents),
                (ids,),
            ).fetchall()
            pending = {
                row[0]
                for row in conn.execute(
                    sql.SQL(
                        """
                        SELECT DISTINCT doc_id FROM {outbox} WHERE doc_id = ANY(%s) AND generation = coalesce(
                            (SELECT id FROM {generations} WHERE state = 'Live' LIMIT 1), 1)
                        """
                    ).format(outbox=tables.outbox, generations=tables.generations),
                    (ids,),
                ).fetchall()
            }
            marks = conn.execute(
                sql.SQL(
                    "SELECT doc_id, kind, content_hash, reason, marked_at FROM {} WHERE doc_id = ANY(%s)"
                ).format(tables.marks),
                (ids,),
            ).fetchall()
        indexed = {row[0]: IndexedDocument(DocumentRecord(*row), row[0] in pending) for row in records}
        return indexed, {row[0]: DocumentMark(*row[1:], pending=row[0] in pending) for row in marks}

    def prune_deleted_marks(self, older_than_seconds: float) -> int:
        """Forget deleted marks older than ``older_than_seconds``; returns how many."""
        with self._pool.transaction("prune_deleted_marks") as conn:
            cursor = conn.execute(
                sql.SQL(
                    "DELETE FROM {} WHERE kind = 'deleted' AND marked_at < now() - make_interval(secs => %s)"
                ).format(self._tables.marks),
                (older_than_seconds,),
            )
            return cursor.rowcount
