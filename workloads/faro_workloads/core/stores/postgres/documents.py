"""The documents repository: reading document records, and writing and deleting documents with their chunks
and outbox rows in one transaction each.

Writes and deletes of a document take its own lock first (a transaction advisory lock, in one order for a
batch), so a write and a delete, or two writes, of one document run one after the other, whether or not
PostgreSQL held it: the later one's statements start after the earlier one committed and see all it did
(READ COMMITTED). A write aborted by a deadlock or serialization failure runs again
(:meth:`PostgresPool.write`).

A version read elsewhere (a chunk object in S3) can be written on condition that no delete of the document
was applied since it was read (``deletions_seen``): a delete acknowledged while the version was embedded,
and applied by another replica before this write, then wins, and the deleted document never comes back.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from faro_workloads.contract.access import TENANT_KEY
from faro_workloads.core.document_errors import DocumentIdTaken, Superseded
from faro_workloads.core.documents import Chunk, DocumentRecord, SourceText
from faro_workloads.core.stores.postgres.chunk_writes import (
    enqueue_points,
    replace_chunks,
    upsert_chunks,
    validate_chunks,
)
from faro_workloads.core.stores.postgres.document_marks import clear_marks, deletions, put_mark
from faro_workloads.core.stores.postgres.generations import writer_lock
from faro_workloads.core.stores.postgres.pool import PostgresPool
from faro_workloads.core.stores.postgres.record_columns import RECORD_COLUMNS
from faro_workloads.core.stores.postgres.tables import CollectionTables
from faro_workloads.core.stores.postgres.texts import delete_texts, upsert_texts


class PostgresDocuments:
    """One collection's documents: records, chunks and the outbox rows their writes queue."""

    def __init__(self, pool: PostgresPool, tables: CollectionTables) -> None:
        self._pool = pool
        self._tables = tables

    def get_document(self, doc_id: str) -> DocumentRecord | None:
        """The document's record, or None when it is unknown."""
        return self.get_documents([doc_id]).get(doc_id)

    def get_documents(self, doc_ids: Sequence[str]) -> dict[str, DocumentRecord]:
        """The records of those of ``doc_ids`` that exist, by doc_id (one query)."""
        records = self._select_records("get_document", "WHERE doc_id = ANY(%s)", (list(doc_ids),))
        return {record.doc_id: record for record in records}

    def list_documents(self, limit: int = 100, after: str | None = None) -> list[DocumentRecord]:
        """Up to ``limit`` documents ordered by doc_id, starting after ``after`` (keyset pagination)."""
        # "" sorts before every (non-empty) doc_id
        return self._select_records(
            "list_documents", "WHERE doc_id > %s ORDER BY doc_id LIMIT %s", (after or "", limit)
        )

    def _select_records(
        self, operation: str, condition: str, params: tuple[object, ...]
    ) -> list[DocumentRecord]:
        """The documents rows matching ``condition`` (constant SQL text), as records."""
        with self._pool.transaction(operation) as conn:
            rows = conn.execute(
                sql.SQL(f"SELECT {RECORD_COLUMNS} FROM {{}} " + condition).format(self._tables.documents),
                params,
            ).fetchall()
        return [DocumentRecord(*row) for row in rows]

    def write_document(self, record: DocumentRecord, chunks: list[Chunk]) -> list[uuid.UUID]:
        """Replace a document in ONE transaction and queue the Qdrant work; return the queued point ids.

        Upserts ``chunks``, deletes the document's chunks whose seq is no longer present, upserts the
        documents row and inserts one outbox row per affected point (written or removed).
        """
        return self.write_documents([(record, chunks)])[record.doc_id]

    def write_documents(
        self,
        documents: Sequence[tuple[DocumentRecord, list[Chunk]]],
        texts: Mapping[str, SourceText] | None = None,
        deletions_seen: Mapping[str, datetime | None] | None = None,
    ) -> dict[str, list[uuid.UUID]]:
        """Replace several documents in ONE transaction, as :meth:`write_document` replaces one, keeping
        their extracted ``texts`` (by doc_id; a document without one keeps none).

        ``deletions_seen``: for documents whose version was read elsewhere, when they were last deleted as
        :meth:`PostgresDocumentMarks.deletions` said after the version was read and before the writer last
        checked it was still the current one (None: never). A document deleted again since raises
        :class:`Superseded` and nothing is written.

        One binary COPY carries every chunk and each statement covers every document, so a batch costs a
        handful of round trips and one commit. Returns the queued point ids of each document, by doc_id.

        The documents rows are upserted first, in doc_id order: that locks the documents (see the module
        docstring) in one order for every batch, so concurrent batches never wait on each other in a cycle.
        """
        tables = self._tables
        doc_ids = [record.doc_id for record, _ in documents]
        if len(set(doc_ids)) != len(doc_ids):
            raise ValueError("a document was given twice in one write")
        for record, chunks in documents:
            validate_chunks(tables.collection, chunks, record.doc_id)
        records = sorted((record for record, _ in documents), key=lambda record: record.doc_id)

        def write(conn: psycopg.Connection) -> dict[str, list[uuid.UUID]]:
            writer_lock(conn, tables)
            lock_documents(conn, tables, doc_ids)
            if deletions_seen:
                _refuse_deleted_since(conn, tables, deletions_seen)
            with conn.cursor() as cursor:
                # A record held to a tenant replaces only that tenant's document: the condition is checked
                # on the row the upsert locked, so a concurrent upload of another tenant cannot slip between.
                cursor.executemany(
                    sql.SQL(
                        f"INSERT INTO {{}} ({RECORD_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                        """
                        ON CONFLICT (doc_id) DO UPDATE SET
                            content_hash = EXCLUDED.content_hash, source = EXCLUDED.source,
                            chunk_count = EXCLUDED.chunk_count, metadata = EXCLUDED.metadata,
                            updated_at = EXCLUDED.updated_at, profile = EXCLUDED.profile,
                            source_etag = EXCLUDED.source_etag
                        WHERE %s::text IS NULL OR {}.metadata ->> {} = %s::text
                        RETURNING doc_id
                        """
                    ).format(tables.documents, tables.documents, sql.Literal(TENANT_KEY)),
                    [
                        (
                            r.doc_id,
                            r.content_hash,
                            r.source,
                            r.chunk_count,
                            Jsonb(r.metadata),
                            r.updated_at,
                            r.profile,
                            r.source_etag,
                            r.held_tenant,
                            r.held_tenant,
                        )
                        for r in records
                    ],
                    returning=True,
                )
                for record in records:
                    if cursor.fetchone() is None:
                        raise DocumentIdTaken(record.doc_id)  # the transaction rolls back: nothing written
                    cursor.nextset()
            kept = texts or {}
            upsert_texts(conn, tables, kept)
            delete_texts(conn, tables, [doc_id for doc_id in doc_ids if doc_id not in kept])
            clear_marks(conn, tables, doc_ids)
            return replace_chunks(conn, tables, {record.doc_id: chunks for record, chunks in documents})

        return self._pool.write("write_document", write)

    def set_source_etag(self, doc_id: str, etag: str) -> None:
        """Record that ``doc_id``'s stored version was read (again) from an object with ETag ``etag`` (an
        object rewritten with the same content: nothing else changes)."""
        with self._pool.transaction("set_source_etag") as conn:
            conn.execute(
                sql.SQL("UPDATE {} SET source_etag = %s WHERE doc_id = %s").format(self._tables.documents),
                (etag, doc_id),
            )

    def delete_document(
        self, doc_id: str, held_tenant: str | None = None, acknowledged: bool = False
    ) -> list[uuid.UUID] | None:
        """Delete a document and its chunks in one transaction, queueing their deletion from Qdrant.

        Returns the queued point ids, or None when Postgres knows neither the document nor any chunk of it
        (with ``held_tenant``: or the document is not that tenant's, which then stays as it is); else the
        document is marked deleted. An ``acknowledged`` delete (answered elsewhere: a tombstone in S3) is
        marked even when Postgres never held the document, so a version of it read before the delete and
        written after it is refused (``deletions_seen`` of :meth:`write_documents`).
        The document's lock waits for a write of it under way to commit, and the chunks DELETE, a later
        statement, then sees every chunk it wrote.
        """
        tables = self._tables

        def delete(conn: psycopg.Connection) -> list[uuid.UUID] | None:
            writer_lock(conn, tables)
            lock_documents(conn, tables, [doc_id])
            known = conn.execute(
                sql.SQL(
                    "DELETE FROM {} WHERE doc_id = %(doc)s"
                    " AND (%(held)s::text IS NULL OR metadata->>{} = %(held)s::text) RETURNING content_hash"
                ).format(tables.documents, sql.Literal(TENANT_KEY)),
                {"doc": doc_id, "held": held_tenant},
            ).fetchone()
            if known is None and held_tenant is not None:
                return None  # unknown, or another tenant's: nothing is touched
            removed = conn.execute(
                sql.SQL("DELETE FROM {} WHERE doc_id = %s RETURNING id").format(tables.chunks), (doc_id,)
            ).fetchall()
            delete_texts(conn, tables, [doc_id])
            if known is None and not removed:
                if acknowledged:
                    put_mark(conn, tables, doc_id, "deleted")
                return None
            put_mark(conn, tables, doc_id, "deleted", known[0] if known is not None else "")
            point_ids = [row[0] for row in removed]
            enqueue_points(conn, tables, {doc_id: point_ids})
            return point_ids

        return self._pool.write("delete_document", delete)

    def bulk_load(self, chunks: list[Chunk]) -> None:
        """Load many chunks fast (binary COPY + upsert) into Postgres ONLY: no outbox rows are written.

        Documents rows are created (source ``bulk_load``) or get their chunk_count refreshed. Callers bring
        Qdrant up to date afterwards, e.g. with :func:`faro_workloads.core.repair.repair_qdrant`.
        """
        tables = self._tables
        validate_chunks(tables.collection, chunks, doc_id=None)
        if not chunks:
            return
        doc_ids = sorted({chunk.doc_id for chunk in chunks})

        def load(conn: psycopg.Connection) -> None:
            writer_lock(conn, tables)
            # Lock the documents first, in doc_id order, as write_documents does: create the missing rows,
            # touch the others.
            conn.execute(
                sql.SQL(
                    """
                    INSERT INTO {} (doc_id, content_hash, source, chunk_count, metadata, updated_at)
                    SELECT doc_id, min(content_hash), 'bulk_load', 0, '{{}}'::jsonb, now()
                    FROM unnest(%s::text[], %s::text[]) AS given(doc_id, content_hash)
                    GROUP BY doc_id ORDER BY doc_id
                    ON CONFLICT (doc_id) DO UPDATE SET updated_at = EXCLUDED.updated_at
                    """
                ).format(tables.documents),
                ([chunk.doc_id for chunk in chunks], [chunk.content_hash for chunk in chunks]),
            )
            upsert_chunks(conn, tables, chunks)
            conn.execute(
                sql.SQL(
                    """
                    UPDATE {documents} SET chunk_count = counted.chunks FROM (
                        SELECT doc_id, count(*) AS chunks FROM {chunks} WHERE doc_id = ANY(%s) GROUP BY doc_id
                    ) AS counted WHERE {documents}.doc_id = counted.doc_id
                    """
                ).format(documents=tables.documents, chunks=tables.chunks),
                (doc_ids,),
            )

        self._pool.write("bulk_load", load)


def lock_documents(conn: psycopg.Connection, tables: CollectionTables, doc_ids: Sequence[str]) -> None:
    """Take each document's own lock for this transaction, in the order of their keys (concurrent batches
    never wait on each other in a cycle). The keys are in the two-key space, apart from the cutover lock."""
    conn.execute(
        sql.SQL(
            "SELECT count(pg_advisory_xact_lock(hashtext(%s), key)) FROM "
            "(SELECT DISTINCT hashtext(doc_id) AS key FROM unnest(%s::text[]) AS doc_id ORDER BY key) AS keys"
        ),
        (tables.documents.as_string(conn), list(doc_ids)),
    )


def _refuse_deleted_since(
    conn: psycopg.Connection, tables: CollectionTables, seen: Mapping[str, datetime | None]
) -> None:
    """Raise :class:`Superseded` when one of the documents was deleted again since ``seen`` was read."""
    now = deletions(conn, tables, list(seen))
    for doc_id, deleted_at in seen.items():
        if now.get(doc_id) != deleted_at:
            raise Superseded(f"{doc_id} was deleted while this version of it was written")
