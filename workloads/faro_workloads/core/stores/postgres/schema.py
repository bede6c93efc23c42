"""Creating, checking and dropping one collection's tables and indexes.

``{name}_documents`` holds one row per document (doc_id primary key); ``{name}_chunks`` one row per chunk,
keyed by its deterministic point id, with the embedding in a ``vector(dim)`` column, an HNSW index whose
opclass matches the distance, and an index on doc_id; ``{name}_outbox`` the Qdrant work still to do;
``{name}_texts`` each document's extracted text (:mod:`~faro_workloads.core.stores.postgres.texts`);
``{name}_document_marks`` documents that failed or were deleted
(:mod:`~faro_workloads.core.stores.postgres.document_marks`);
``{name}_embedding_cache`` vectors by model and text
(:mod:`~faro_workloads.core.stores.postgres.embedding_cache`).
"""

from __future__ import annotations

import logging

import psycopg
from psycopg import sql

from faro_workloads.contract.access import TENANT_KEY
from faro_workloads.contract.generations import FIRST_GENERATION, chunks_table_name
from faro_workloads.contract.settings import HnswConfig
from faro_workloads.core.stores.ports import StoreSchemaMismatch
from faro_workloads.core.stores.postgres.census import create_requeued_table
from faro_workloads.core.stores.postgres.document_marks import create_marks_table
from faro_workloads.core.stores.postgres.embedding_cache import create_embedding_cache_table
from faro_workloads.core.stores.postgres.generations import create_generations_table
from faro_workloads.core.stores.postgres.pool import PostgresPool
from faro_workloads.core.stores.postgres.tables import CollectionTables, add_missing_columns, relation_exists
from faro_workloads.core.stores.postgres.texts import create_texts_table

log = logging.getLogger(__name__)

LEXICAL_COLUMNS = (("lexical_terms", "integer[]"), ("lexical_weights", "real[]"))

# pgvector cannot build an HNSW index on `vector` columns wider than this; wider collections search exactly.
HNSW_MAX_DIMENSION = 2000


class PostgresSchema:
    """The DDL of one collection: ensure (idempotent, safe concurrently), drop, and index inspection."""

    def __init__(self, pool: PostgresPool, tables: CollectionTables, hnsw: HnswConfig) -> None:
        self._pool = pool
        self._tables = tables
        self._hnsw = hnsw
        self._said_exact = False

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

    def exists(self) -> bool:
        """Whether the collection's tables are there (:meth:`ensure_schema` creates them all at once)."""
        with self._pool.connection("schema_exists") as conn:
            return relation_exists(conn, self._tables.documents)

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
        index = self._hnsw_index_definition(conn)
        if index is not None and tables.opclass not in index:
            raise StoreSchemaMismatch(
                f"index {tables.hnsw_index_name} was built for another distance ({index}); collection "
                f"{collection.name!r} uses {collection.distance.value} ({tables.opclass})"
            )

    def _create_tables(self, conn: psycopg.Connection) -> None:
        tables = self._tables
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
                    profile text NOT NULL DEFAULT '',
                    source_etag text NOT NULL DEFAULT ''
                )
                """
            ).format(tables.documents)
        )
        # Tables made before index profiles (or source ETags) were recorded: their documents have none ('').
        add_missing_columns(
            conn,
            tables.documents,
            [(column, "text NOT NULL DEFAULT ''") for column in ("profile", "source_etag")],
        )
        conn.execute(
            sql.SQL(
                """
                CREATE TABLE IF NOT EXISTS {} (
                    id bigserial PRIMARY KEY,
                    point_id uuid NOT NULL,
                    doc_id text NOT NULL,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    generation integer NOT NULL DEFAULT 1
                )
                """
            ).format(tables.outbox)
        )
        # Outboxes made before generations: every row they hold is the first generation's.
        add_missing_columns(conn, tables.outbox, [("generation", "integer NOT NULL DEFAULT 1")])
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (point_id)").format(
                sql.Identifier(tables.outbox_index_name), tables.outbox
            )
        )
        create_texts_table(conn, tables)
        create_marks_table(conn, tables)
        create_requeued_table(conn, tables)
        create_embedding_cache_table(conn, tables)
        create_generations_table(conn, tables)
        self._create_chunks_table(conn, with_hnsw=True)

    def ensure_chunks_table(self, with_hnsw: bool) -> None:
        """Create this generation's chunks table if missing; without its HNSW index for a bulk load, which
        :meth:`build_hnsw_index` adds afterwards (faster than maintaining it row by row)."""
        with self._pool.transaction("ensure_chunks_table") as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('faro.ensure_schema'))")
            self._check_existing(conn)
            self._create_chunks_table(conn, with_hnsw=with_hnsw)

    def build_hnsw_index(self) -> None:
        """Add the chunks table's HNSW index if it has none (idempotent), built by up to
        ``HnswConfig.build_workers`` parallel workers besides the leader: PostgreSQL plans none for a table
        smaller than ``min_parallel_table_scan_size``, so the table is told how many to use while its index
        is built (and reset in the same transaction). The table is analysed after the build."""
        tables = self._tables
        with self._pool.transaction("build_hnsw_index") as conn:
            if tables.collection.dimension > HNSW_MAX_DIMENSION:
                self._create_hnsw_index(conn)  # none can be built: says so (once)
                return
            if self._hnsw_index_definition(conn) is not None:
                return
            workers = self._hnsw.build_workers
            conn.execute(
                sql.SQL("SELECT set_config('max_parallel_maintenance_workers', {}, true)").format(
                    sql.Literal(str(workers))
                )
            )
            conn.execute(
                sql.SQL("ALTER TABLE {} SET (parallel_workers = {})").format(
                    tables.chunks, sql.Literal(workers)
                )
            )
            self._create_hnsw_index(conn)
            conn.execute(sql.SQL("ALTER TABLE {} RESET (parallel_workers)").format(tables.chunks))
            # A bulk-loaded table has no statistics until autovacuum gets to it: until then the planner
            # guesses (a lexical search counted the collection by a sequential scan instead of its index).
            conn.execute(sql.SQL("ANALYZE {}").format(tables.chunks))

    def _hnsw_index_definition(self, conn: psycopg.Connection) -> str | None:
        """The chunks table's HNSW index as ``pg_indexes`` defines it; None when it has none."""
        tables = self._tables
        found = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
            (tables.schema_name, tables.hnsw_index_name),
        ).fetchone()
        return None if found is None else found[0]

    def drop_chunks_table(self) -> None:
        """Drop this generation's chunks table (the collection's other tables stay)."""
        with self._pool.transaction("drop_chunks_table") as conn:
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(self._tables.chunks))

    def _create_chunks_table(self, conn: psycopg.Connection, with_hnsw: bool) -> None:
        tables, collection = self._tables, self._tables.collection
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
                    embedding vector({}) NOT NULL,
                    lexical_terms integer[] NOT NULL DEFAULT '{{}}',
                    lexical_weights real[] NOT NULL DEFAULT '{{}}'
                )
                """
            ).format(tables.chunks, sql.Literal(collection.dimension))
        )
        # Tables made before hybrid search: their rows have no terms until written again (a generation
        # whose profile has no lexical index is searched by vector only).
        add_missing_columns(
            conn,
            tables.chunks,
            [(column, f"{kind} NOT NULL DEFAULT '{{}}'") for column, kind in LEXICAL_COLUMNS],
        )
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (doc_id)").format(
                sql.Identifier(tables.doc_index_name), tables.chunks
            )
        )
        # A tenant's chunks (partial: documents without a tenant are not in it); the filter names the same
        # expression (search_statements._filter_conditions).
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ((metadata ->> {})) WHERE metadata ? {}").format(
                sql.Identifier(tables.tenant_index_name),
                tables.chunks,
                sql.Literal(TENANT_KEY),
                sql.Literal(TENANT_KEY),
            )
        )
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING gin (lexical_terms)").format(
                sql.Identifier(tables.lexical_index_name), tables.chunks
            )
        )
        # BM25's collection size (the chunks with terms) is counted per lexical query: over this narrow
        # partial index (an index-only scan), not the table's wide rows (15 -> 1.2 ms at 23k chunks).
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (id) WHERE lexical_terms <> '{{}}'").format(
                sql.Identifier(tables.indexed_terms_index_name), tables.chunks
            )
        )
        if with_hnsw:
            self._create_hnsw_index(conn)

    def _create_hnsw_index(self, conn: psycopg.Connection) -> None:
        tables, collection = self._tables, self._tables.collection
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
        elif not self._said_exact:
            self._said_exact = True  # once per store: the gate and each pass ask for the index again
            log.warning(
                "collection %s has %d dimensions, more than pgvector's HNSW limit of %d: "
                "postgres searches scan exactly",
                collection.name,
                collection.dimension,
                HNSW_MAX_DIMENSION,
            )

    def drop(self) -> None:
        """Drop this collection's tables, every generation's chunks included (the schema and the extension
        stay)."""
        with self._pool.transaction("drop") as conn:
            tables = self._tables
            generations = [FIRST_GENERATION]
            if relation_exists(conn, tables.generations):
                rows = conn.execute(sql.SQL("SELECT id FROM {}").format(tables.generations)).fetchall()
                generations += [row[0] for row in rows]
            chunk_tables = [
                sql.Identifier(tables.schema_name, chunks_table_name(tables.collection.name, generation))
                for generation in sorted(set(generations))
            ]
            for table in (
                tables.outbox,
                *chunk_tables,
                tables.texts,
                tables.marks,
                tables.requeued,
                tables.embedding_cache,
                tables.generations,
                tables.documents,
            ):
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))

    def index_definitions(self) -> dict[str, str]:
        """``pg_indexes`` definitions of the chunks table's indexes, by index name (for checks and tests)."""
        with self._pool.transaction("index_definitions") as conn:
            rows = conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
                (self._tables.schema_name, self._tables.chunks_table_name),
            ).fetchall()
        return {name: definition for name, definition in rows}
