"""Creating, checking and dropping one collection's tables and indexes.

``{name}_documents`` holds one row per document (doc_id primary key); ``{name}_chunks`` one row per chunk,
keyed by its deterministic point id, with the embedding in a ``vector(dim)`` column, an HNSW index whose
opclass matches the distance, and an index on doc_id; ``{name}_outbox`` the Qdrant work still to do.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from faro_workloads.contract.settings import HnswConfig
from faro_workloads.core.stores.ports import StoreSchemaMismatch
from faro_workloads.core.stores.postgres.pool import PostgresPool
from faro_workloads.core.stores.postgres.tables import CollectionTables

log = logging.getLogger(__name__)

# pgvector cannot build an HNSW index on `vector` columns wider than this; wider collections search exactly.
HNSW_MAX_DIMENSION = 2000


class PostgresSchema:
    """The DDL of one collection: ensure (idempotent, safe concurrently), drop, and index inspection."""

    def __init__(self, pool: PostgresPool, tables: CollectionTables, hnsw: HnswConfig) -> None:
        self._pool = pool
        self._tables = tables
        self._hnsw = hnsw

    def ensure_schema(self) -> None:
        """Create the extension, schema, tables and indexes if missing (idempotent, safe concurrently).

        Raises :class:`StoreSchemaMismatch` when the chunks table exists with another dimension, or its HNSW
        index with another distance.
        """
        with self._pool.transaction("ensure_schema") as conn:
            # Serialise concurrent creators (several pods starting at once) on one advisory lock.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('faro.ensure_schema'))")
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self._tables.schema))
            self._check_existing(conn)
            self._create_tables(conn)

    def _check_existing(self, conn: psycopg.Connection) -> None:
        tables, collection = self._tables, self._tables.collection
        qualified = tables.chunks.as_string(conn)
        row = conn.execute(
            """
            SELECT a.atttypmod FROM pg_attribute a
            WHERE a.attrelid = to_regclass(%s) AND a.attname = 'embedding' AND NOT a.attisdropped
            """,
            (qualified,),
        ).fetchone()
        if row is not None and row[0] != collection.dimension:
            raise StoreSchemaMismatch(
                f"table {qualified} holds {row[0]}-d embeddings but collection "
                f"{collection.name!r} is configured for {collection.dimension}-d"
            )
        index = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
            (tables.schema_name, tables.hnsw_index_name),
        ).fetchone()
        if index is not None and tables.opclass not in index[0]:
            raise StoreSchemaMismatch(
                f"index {tables.hnsw_index_name} was built for another distance ({index[0]}); collection "
                f"{collection.name!r} uses {collection.distance.value} ({tables.opclass})"
            )

    def _create_tables(self, conn: psycopg.Connection) -> None:
        tables, collection = self._tables, self._tables.collection
        conn.execute(
            sql.SQL(
                """
                CREATE TABLE IF NOT EXISTS {} (
                    doc_id text PRIMARY KEY,
                    content_hash text NOT NULL,
                    source text NOT NULL,
                    chunk_count integer NOT NULL,
                    metadata jsonb NOT NULL DEFAULT '{{}}',
                    updated_at timestamptz NOT NULL DEFAULT now(),
                    profile text NOT NULL DEFAULT ''
                )
                """
            ).format(tables.documents)
        )
        # Tables made before index profiles were recorded: their documents have none ('').
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS profile text NOT NULL DEFAULT ''").format(
                tables.documents
            )
        )
        conn.execute(
            sql.SQL(
                """
                CREATE TABLE IF NOT EXISTS {} (
                    id uuid PRIMARY KEY,
                    doc_id text NOT NULL,
                    seq integer NOT NULL,
                    text text NOT NULL,
                    start_char integer NOT NULL,
                    end_char integer NOT NULL,
                    metadata jsonb NOT NULL DEFAULT '{{}}',
                    content_hash text NOT NULL,
                    model text NOT NULL,
                    embedding vector({}) NOT NULL
                )
                """
            ).format(tables.chunks, sql.Literal(collection.dimension))
        )
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (doc_id)").format(
                sql.Identifier(tables.doc_index_name), tables.chunks
            )
        )
        if collection.dimension <= HNSW_MAX_DIMENSION:
            conn.execute(
                sql.SQL(
                    "CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (embedding {}) "
                    "WITH (m = {}, ef_construction = {})"
                ).format(
                    sql.Identifier(tables.hnsw_index_name),
                    tables.chunks,
                    sql.SQL(tables.opclass),
                    sql.Literal(self._hnsw.m),
                    sql.Literal(self._hnsw.ef_construct),
                )
            )
        else:
            log.warning(
                "collection %s has %d dimensions, more than pgvector's HNSW limit of %d: "
                "postgres searches scan exactly",
                collection.name,
                collection.dimension,
                HNSW_MAX_DIMENSION,
            )
        conn.execute(
            sql.SQL(
                """
                CREATE TABLE IF NOT EXISTS {} (
                    id bigserial PRIMARY KEY,
                    point_id uuid NOT NULL,
                    doc_id text NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now()
                )
                """
            ).format(tables.outbox)
        )
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (point_id)").format(
                sql.Identifier(tables.outbox_index_name), tables.outbox
            )
        )

    def drop(self) -> None:
        """Drop this collection's tables (the schema and the extension stay)."""
        with self._pool.transaction("drop") as conn:
            for table in (self._tables.outbox, self._tables.chunks, self._tables.documents):
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))

    def index_definitions(self) -> dict[str, str]:
        """``pg_indexes`` definitions of the chunks table's indexes, by index name (for checks and tests)."""
        with self._pool.transaction("index_definitions") as conn:
            rows = conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
                (self._tables.schema_name, self._tables.chunks_table_name),
            ).fetchall()
        return {name: definition for name, definition in rows}
