"""Filling a generation that is not the one ingest writes (a building one, or a retired one rolled back to):
its chunks follow the documents, never the other way round.

Each fill locks the documents' rows (``FOR SHARE``, after the shared cutover lock, as writers take them) and
writes only the documents whose content is still the one the chunks were made from: a document replaced or
deleted meanwhile is skipped, and the next round sees it again. So a fill never puts an older version over a
newer one, even once its generation has become live.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

import psycopg
from psycopg import sql

from faro_workloads.core.documents import Chunk
from faro_workloads.core.stores.postgres.chunk_writes import enqueue_points, replace_chunks, validate_chunks
from faro_workloads.core.stores.postgres.generations import writer_lock
from faro_workloads.core.stores.postgres.pool import PostgresPool
from faro_workloads.core.stores.postgres.tables import CollectionTables


class PostgresGenerationFill:
    """Writes into one generation's chunks table (``tables.generation``) on behalf of a backfill."""

    def __init__(self, pool: PostgresPool, tables: CollectionTables) -> None:
        self._pool = pool
        self._tables = tables

    def fill_documents(self, documents: Mapping[str, tuple[str, list[Chunk]]]) -> dict[str, list[uuid.UUID]]:
        """Replace this generation's chunks of ``documents`` (doc_id -> (content hash, chunks)) whose content
        is still that hash, in one transaction; returns the points queued, by doc_id of those written."""
        tables = self._tables
        for doc_id, (_, chunks) in documents.items():
            validate_chunks(tables.collection, chunks, doc_id)
        wanted = sorted(documents)

        def fill(conn: psycopg.Connection) -> dict[str, list[uuid.UUID]]:
            writer_lock(conn, tables)
            current = dict(
                conn.execute(
                    sql.SQL(
                        "SELECT doc_id, content_hash FROM {} WHERE doc_id = ANY(%s) ORDER BY doc_id FOR SHARE"
                    ).format(tables.documents),
                    (wanted,),
                ).fetchall()
            )
            fresh = [doc_id for doc_id in wanted if current.get(doc_id) == documents[doc_id][0]]
            if not fresh:
                return {}
            return replace_chunks(conn, tables, {doc_id: documents[doc_id][1] for doc_id in fresh})

        return self._pool.write("fill_generation", fill)

    def clear_stale(self, doc_ids: Sequence[str]) -> dict[str, list[uuid.UUID]]:
        """Delete this generation's chunks of ``doc_ids`` that no current document matches (deleted, or of an
        older content); returns the points queued for deletion from Qdrant, by doc_id."""
        tables = self._tables

        def clear(conn: psycopg.Connection) -> dict[str, list[uuid.UUID]]:
            writer_lock(conn, tables)
            conn.execute(
                sql.SQL("SELECT 1 FROM {} WHERE doc_id = ANY(%s) ORDER BY doc_id FOR SHARE").format(
                    tables.documents
                ),
                (list(doc_ids),),
            )
            removed = conn.execute(
                sql.SQL(
                    """
                    DELETE FROM {chunks} AS c WHERE c.doc_id = ANY(%s) AND NOT EXISTS (
                        SELECT 1 FROM {documents} AS d
                        WHERE d.doc_id = c.doc_id AND d.content_hash = c.content_hash
                    ) RETURNING c.id, c.doc_id
                    """
                ).format(chunks=tables.chunks, documents=tables.documents),
                (list(doc_ids),),
            ).fetchall()
            affected: dict[str, list[uuid.UUID]] = {}
            for point_id, doc_id in removed:
                affected.setdefault(doc_id, []).append(point_id)
            enqueue_points(conn, tables, affected)
            return affected

        return self._pool.write("clear_generation", clear)
