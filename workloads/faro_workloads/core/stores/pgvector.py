"""PostgreSQL + pgvector: the source of truth for documents, chunks and the Qdrant outbox.

Per collection, in schema ``PostgresConfig.schema_name``:

- ``{name}_documents``: one row per document (doc_id primary key).
- ``{name}_chunks``: one row per chunk, keyed by its deterministic point id, with the embedding in a
  ``vector(dim)`` column, an HNSW index whose opclass matches the distance, and an index on doc_id.
- ``{name}_outbox``: Qdrant work still to do. A row only *names* a point id (and its doc_id, for logs); the
  point's current state is read from ``{name}_chunks`` when the row is applied, so applying rows is
  idempotent and order-insensitive (present -> upsert to Qdrant, absent -> delete from Qdrant).

Writes lock a document by its ``{name}_documents`` row before touching its chunks (upserting the row, in
doc_id order in a batch; a delete deletes it first), so a write and a delete, or two writes, of one document
run one after the other: the later one's chunk statements start after the earlier one committed and see all
its chunks (READ COMMITTED). A write aborted by a deadlock or serialization failure runs again
(:mod:`faro_workloads.core.stores.transaction_retry`).

Every SQL statement is composed with :mod:`psycopg.sql`; names are never formatted into SQL text.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from faro_workloads.core.config import CollectionConfig, Distance, HnswConfig, PostgresConfig
from faro_workloads.core.documents import Chunk, DocumentRecord, SearchHit
from faro_workloads.core.metrics import STORE_SECONDS
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.transaction_retry import run_transaction

log = logging.getLogger(__name__)

BACKEND = "postgres"

# pgvector cannot build an HNSW index on `vector` columns wider than this; wider collections search exactly.
HNSW_MAX_DIMENSION = 2000
# pgvector's upper bound for hnsw.ef_search.
EF_SEARCH_MAX = 1000

# Distance -> (HNSW operator class, SQL distance operator).
_DISTANCE_SQL: dict[Distance, tuple[str, str]] = {
    Distance.COSINE: ("vector_cosine_ops", "<=>"),
    Distance.DOT: ("vector_ip_ops", "<#>"),
    Distance.EUCLID: ("vector_l2_ops", "<->"),
}

# Column order of the chunks table, of the staging table and of binary COPY rows.
CHUNK_COLUMNS = (
    "id",
    "doc_id",
    "seq",
    "text",
    "start_char",
    "end_char",
    "metadata",
    "content_hash",
    "model",
    "embedding",
)
COPY_TYPES = ["uuid", "text", "int4", "text", "int4", "int4", "jsonb", "text", "text", "vector"]


def copy_row(chunk: Chunk) -> tuple[object, ...]:
    """``chunk`` as a binary COPY row in :data:`CHUNK_COLUMNS` order (types :data:`COPY_TYPES`)."""
    return (
        chunk.id,
        chunk.doc_id,
        chunk.seq,
        chunk.text,
        chunk.start,
        chunk.end,
        Jsonb(chunk.metadata),
        chunk.content_hash,
        chunk.model,
        np.asarray(chunk.embedding, dtype=np.float32),
    )


# The columns a Chunk is read from (see PgVectorStore._chunk).
_CHUNK_SELECT = sql.SQL(", ").join(sql.Identifier(column) for column in CHUNK_COLUMNS[1:])

# Whether the pool checks a connection with a round trip when handing it out: yes, except for idempotent
# reads, which instead retry once on a checked connection if theirs turns out broken (see `_read`).
_CHECK_AT_CHECKOUT: ContextVar[bool] = ContextVar("faro_pg_check_at_checkout", default=True)

T = TypeVar("T")


def _check_at_checkout(conn: psycopg.Connection) -> None:
    """The pool's ``check`` hook: a round trip (``SELECT ''``) unless the caller retries on its own."""
    if _CHECK_AT_CHECKOUT.get():
        ConnectionPool.check_connection(conn)


class StoreSchemaMismatch(ValueError):
    """The existing tables do not match the collection configuration (dimension or distance)."""


@dataclass(frozen=True, slots=True)
class OutboxBatch:
    """Outbox rows claimed (row-locked) by one drain transaction and the state to apply for them.

    ``chunks`` are the current chunk rows of the named points, to upsert into Qdrant; ``absent_ids`` are
    the named points Postgres no longer holds, to delete from Qdrant.
    """

    row_ids: list[int]
    point_ids: list[uuid.UUID]
    chunks: list[Chunk]
    absent_ids: list[uuid.UUID]


def _as_float32(value: Any) -> np.ndarray:
    """A pgvector value (``pgvector.Vector`` or ndarray, depending on the pgvector version) as float32."""
    if hasattr(value, "to_numpy"):
        return np.asarray(value.to_numpy(), dtype=np.float32)
    return np.asarray(value, dtype=np.float32)


class PgVectorStore:
    """One collection's tables in PostgreSQL + pgvector, reached through a small connection pool."""

    def __init__(
        self, config: PostgresConfig, collection: CollectionConfig, hnsw: HnswConfig | None = None
    ) -> None:
        self._config = config
        self._collection = collection
        self._hnsw = hnsw or HnswConfig()
        self._opclass, self._operator = _DISTANCE_SQL[collection.distance]
        schema, name = config.schema_name, collection.name
        self._schema = sql.Identifier(schema)
        self._documents = sql.Identifier(schema, f"{name}_documents")
        self._chunks = sql.Identifier(schema, f"{name}_chunks")
        self._outbox = sql.Identifier(schema, f"{name}_outbox")
        self._hnsw_index_name = f"{name}_chunks_hnsw"
        self._doc_index_name = f"{name}_chunks_doc_id"
        self._staging = sql.Identifier(f"faro_stage_{name}")
        self._pool = ConnectionPool(
            config.dsn.get_secret_value(),
            min_size=1,
            max_size=config.pool_size,
            configure=self._configure_connection,
            check=_check_at_checkout,
            timeout=config.connect_timeout_seconds,
            # Autocommit: a read is one statement, no BEGIN/COMMIT; writes open explicit transactions.
            kwargs={"connect_timeout": max(1, round(config.connect_timeout_seconds)), "autocommit": True},
            name=f"faro-pg-{name}",
            open=True,
        )

    @property
    def collection(self) -> CollectionConfig:
        return self._collection

    def _configure_connection(self, conn: psycopg.Connection) -> None:
        """Set the session's ``hnsw.ef_search`` and teach the connection the pgvector types, if the extension
        exists yet (else a later checkout will).

        Runs as the pool's ``configure`` hook and again at checkout for connections opened before
        ``CREATE EXTENSION vector`` (a store is often built before :meth:`ensure_schema` runs). Setting
        ``ef_search`` once per connection keeps a search to one statement (a placeholder setting until the
        extension is loaded, which then adopts it).
        """
        conn.execute(sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(self._config.ef_search)))
        with suppress(psycopg.ProgrammingError):  # no `vector` type in this database yet
            register_vector(conn)

    @contextmanager
    def _connection(self, operation: str, checked: bool = True) -> Iterator[psycopg.Connection]:
        """A pooled (autocommit) connection, timed as ``operation``.

        ``checked=False`` skips the pool's liveness round trip; only for callers that retry on a broken
        connection (:meth:`_read`).
        """
        token = _CHECK_AT_CHECKOUT.set(checked)
        try:
            with STORE_SECONDS.labels(BACKEND, operation).time(), self._pool.connection() as conn:
                if conn.adapters.types.get("vector") is None:
                    self._configure_connection(conn)
                yield conn
        finally:
            _CHECK_AT_CHECKOUT.reset(token)

    @contextmanager
    def _transaction(self, operation: str) -> Iterator[psycopg.Connection]:
        """A pooled connection inside one transaction (committed on success), timed as ``operation``."""
        with self._connection(operation) as conn, conn.transaction():
            yield conn

    def _write(self, operation: str, write: Callable[[psycopg.Connection], T]) -> T:
        """``write(conn)`` in one transaction, run again in a new one when PostgreSQL aborts it for a deadlock
        or a serialization failure (:func:`run_transaction`); ``write`` must only act through ``conn``."""

        def attempt() -> T:
            with self._transaction(operation) as conn:
                return write(conn)

        return run_transaction(operation, attempt)

    def _read(self, operation: str, read: Callable[[psycopg.Connection], T]) -> T:
        """``read(conn)`` (idempotent) on a connection handed out without the liveness round trip.

        If that connection turns out broken (e.g. the server restarted since its last use), the read runs once
        more on a checked connection, so callers see what a checked checkout would have given them.
        """
        conn: psycopg.Connection | None = None
        try:
            with self._connection(operation, checked=False) as conn:
                return read(conn)
        except psycopg.OperationalError as exc:
            if conn is None or not (conn.broken or conn.closed):
                raise
            log.info("postgres connection broken during %s, retrying on a checked one: %s", operation, exc)
        with self._connection(operation) as conn:
            return read(conn)

    # ----------------------------------------------------------------------------------------- lifecycle

    def ensure_schema(self) -> None:
        """Create the extension, schema, tables and indexes if missing (idempotent, safe concurrently).

        Raises :class:`StoreSchemaMismatch` when the chunks table exists with another dimension, or its HNSW
        index with another distance.
        """
        with self._transaction("ensure_schema") as conn:
            # Serialise concurrent creators (several pods starting at once) on one advisory lock.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('faro.ensure_schema'))")
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(self._schema))
            self._check_existing(conn)
            self._create_tables(conn)

    def _check_existing(self, conn: psycopg.Connection) -> None:
        qualified = self._chunks.as_string(conn)
        row = conn.execute(
            """
            SELECT a.atttypmod FROM pg_attribute a
            WHERE a.attrelid = to_regclass(%s) AND a.attname = 'embedding' AND NOT a.attisdropped
            """,
            (qualified,),
        ).fetchone()
        if row is not None and row[0] != self._collection.dimension:
            raise StoreSchemaMismatch(
                f"table {qualified} holds {row[0]}-d embeddings but collection "
                f"{self._collection.name!r} is configured for {self._collection.dimension}-d"
            )
        index = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
            (self._config.schema_name, self._hnsw_index_name),
        ).fetchone()
        if index is not None and self._opclass not in index[0]:
            raise StoreSchemaMismatch(
                f"index {self._hnsw_index_name} was built for another distance ({index[0]}); collection "
                f"{self._collection.name!r} uses {self._collection.distance.value} ({self._opclass})"
            )

    def _create_tables(self, conn: psycopg.Connection) -> None:
        conn.execute(
            sql.SQL(
                """
                CREATE TABLE IF NOT EXISTS {} (
                    doc_id text PRIMARY KEY,
                    content_hash text NOT NULL,
                    source text NOT NULL,
                    chunk_count integer NOT NULL,
                    metadata jsonb NOT NULL DEFAULT '{{}}',
                    updated_at timestamptz NOT NULL DEFAULT now()
                )
                """
            ).format(self._documents)
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
            ).format(self._chunks, sql.Literal(self._collection.dimension))
        )
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (doc_id)").format(
                sql.Identifier(self._doc_index_name), self._chunks
            )
        )
        if self._collection.dimension <= HNSW_MAX_DIMENSION:
            conn.execute(
                sql.SQL(
                    "CREATE INDEX IF NOT EXISTS {} ON {} USING hnsw (embedding {}) "
                    "WITH (m = {}, ef_construction = {})"
                ).format(
                    sql.Identifier(self._hnsw_index_name),
                    self._chunks,
                    sql.SQL(self._opclass),
                    sql.Literal(self._hnsw.m),
                    sql.Literal(self._hnsw.ef_construct),
                )
            )
        else:
            log.warning(
                "collection %s has %d dimensions, more than pgvector's HNSW limit of %d: "
                "postgres searches scan exactly",
                self._collection.name,
                self._collection.dimension,
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
            ).format(self._outbox)
        )
        conn.execute(
            sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (point_id)").format(
                sql.Identifier(f"{self._collection.name}_outbox_point_id"), self._outbox
            )
        )

    def drop(self) -> None:
        """Drop this collection's tables (the schema and the extension stay)."""
        with self._transaction("drop") as conn:
            for table in (self._outbox, self._chunks, self._documents):
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))

    def close(self) -> None:
        """Close the connection pool."""
        self._pool.close()

    # ----------------------------------------------------------------------------------------- documents

    def get_document(self, doc_id: str) -> DocumentRecord | None:
        """The document's record, or None when it is unknown."""
        return self.get_documents([doc_id]).get(doc_id)

    def get_documents(self, doc_ids: Sequence[str]) -> dict[str, DocumentRecord]:
        """The records of those of ``doc_ids`` that exist, by doc_id (one query)."""
        with self._transaction("get_document") as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT doc_id, content_hash, source, chunk_count, metadata, updated_at FROM {} "
                    "WHERE doc_id = ANY(%s)"
                ).format(self._documents),
                (list(doc_ids),),
            ).fetchall()
        return {row[0]: DocumentRecord(*row) for row in rows}

    def list_documents(self, limit: int = 100, after: str | None = None) -> list[DocumentRecord]:
        """Up to ``limit`` documents ordered by doc_id, starting after ``after`` (keyset pagination)."""
        with self._transaction("list_documents") as conn:
            rows = conn.execute(
                sql.SQL(
                    "SELECT doc_id, content_hash, source, chunk_count, metadata, updated_at FROM {} "
                    "WHERE doc_id > %s ORDER BY doc_id LIMIT %s"
                ).format(self._documents),
                (after or "", limit),  # "" sorts before every (non-empty) doc_id
            ).fetchall()
        return [DocumentRecord(*row) for row in rows]

    def write_document(self, record: DocumentRecord, chunks: list[Chunk]) -> list[uuid.UUID]:
        """Replace a document in ONE transaction and queue the Qdrant work; return the queued point ids.

        Upserts ``chunks``, deletes the document's chunks whose seq is no longer present, upserts the
        documents row and inserts one outbox row per affected point (written or removed).
        """
        return self.write_documents([(record, chunks)])[record.doc_id]

    def write_documents(
        self, documents: Sequence[tuple[DocumentRecord, list[Chunk]]]
    ) -> dict[str, list[uuid.UUID]]:
        """Replace several documents in ONE transaction, as :meth:`write_document` replaces one.

        One binary COPY carries every chunk and each statement covers every document, so a batch costs a
        handful of round trips and one commit. Returns the queued point ids of each document, by doc_id.

        The documents rows are upserted first, in doc_id order: that locks the documents (see the module
        docstring) in one order for every batch, so concurrent batches never wait on each other in a cycle.
        """
        doc_ids = [record.doc_id for record, _ in documents]
        if len(set(doc_ids)) != len(doc_ids):
            raise ValueError("a document was given twice in one write")
        for record, chunks in documents:
            self._validate_chunks(chunks, record.doc_id)
        written = {record.doc_id: [chunk.id for chunk in chunks] for record, chunks in documents}
        records = sorted((record for record, _ in documents), key=lambda record: record.doc_id)

        def write(conn: psycopg.Connection) -> dict[str, list[uuid.UUID]]:
            with conn.cursor() as cursor:
                cursor.executemany(
                    sql.SQL(
                        """
                        INSERT INTO {} (doc_id, content_hash, source, chunk_count, metadata, updated_at)
                        VALUES (%s, %s, %s, %s, %s, %s)
                        ON CONFLICT (doc_id) DO UPDATE SET
                            content_hash = EXCLUDED.content_hash, source = EXCLUDED.source,
                            chunk_count = EXCLUDED.chunk_count, metadata = EXCLUDED.metadata,
                            updated_at = EXCLUDED.updated_at
                        """
                    ).format(self._documents),
                    [
                        (r.doc_id, r.content_hash, r.source, r.chunk_count, Jsonb(r.metadata), r.updated_at)
                        for r in records
                    ],
                )
            self._upsert_chunks(conn, [chunk for _, chunks in documents for chunk in chunks])
            stale = conn.execute(
                sql.SQL(
                    "DELETE FROM {} WHERE doc_id = ANY(%s) AND NOT (id = ANY(%s)) RETURNING id, doc_id"
                ).format(self._chunks),
                (doc_ids, [point for points in written.values() for point in points]),
            ).fetchall()
            affected = {doc_id: list(points) for doc_id, points in written.items()}
            for point_id, doc_id in stale:
                affected[doc_id].append(point_id)
            self._enqueue(conn, affected)
            return affected

        return self._write("write_document", write)

    def delete_document(self, doc_id: str) -> list[uuid.UUID] | None:
        """Delete a document and its chunks in one transaction, queueing their deletion from Qdrant.

        Returns the queued point ids, or None when Postgres knows neither the document nor any chunk of it.
        The documents row goes first: that waits for a write of the document under way to commit, and the
        chunks DELETE, a later statement, then sees every chunk it wrote.
        """

        def delete(conn: psycopg.Connection) -> list[uuid.UUID] | None:
            known = conn.execute(
                sql.SQL("DELETE FROM {} WHERE doc_id = %s RETURNING doc_id").format(self._documents),
                (doc_id,),
            ).fetchone()
            removed = conn.execute(
                sql.SQL("DELETE FROM {} WHERE doc_id = %s RETURNING id").format(self._chunks), (doc_id,)
            ).fetchall()
            if known is None and not removed:
                return None
            point_ids = [row[0] for row in removed]
            self._enqueue(conn, {doc_id: point_ids})
            return point_ids

        return self._write("delete_document", delete)

    def bulk_load(self, chunks: list[Chunk]) -> None:
        """Load many chunks fast (binary COPY + upsert) into Postgres ONLY: no outbox rows are written.

        Documents rows are created (source ``bulk_load``) or get their chunk_count refreshed. Callers bring
        Qdrant up to date afterwards, e.g. with :func:`faro_workloads.core.repair.repair_qdrant`.
        """
        self._validate_chunks(chunks, doc_id=None)
        if not chunks:
            return
        doc_ids = sorted({chunk.doc_id for chunk in chunks})

        def load(conn: psycopg.Connection) -> None:
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
                ).format(self._documents),
                ([chunk.doc_id for chunk in chunks], [chunk.content_hash for chunk in chunks]),
            )
            self._upsert_chunks(conn, chunks)
            conn.execute(
                sql.SQL(
                    """
                    UPDATE {documents} SET chunk_count = counted.chunks FROM (
                        SELECT doc_id, count(*) AS chunks FROM {chunks} WHERE doc_id = ANY(%s) GROUP BY doc_id
                    ) AS counted WHERE {documents}.doc_id = counted.doc_id
                    """
                ).format(documents=self._documents, chunks=self._chunks),
                (doc_ids,),
            )

        self._write("bulk_load", load)

    def _validate_chunks(self, chunks: Sequence[Chunk], doc_id: str | None) -> None:
        dimension = self._collection.dimension
        seen: set[uuid.UUID] = set()
        for chunk in chunks:
            if doc_id is not None and chunk.doc_id != doc_id:
                raise ValueError(f"chunk of document {chunk.doc_id!r} written as part of {doc_id!r}")
            shape = np.shape(chunk.embedding)
            if shape != (dimension,):
                raise ValueError(
                    f"chunk {chunk.doc_id}#{chunk.seq} has an embedding of shape {shape}, "
                    f"collection {self._collection.name!r} holds {dimension}-d vectors"
                )
            if chunk.id in seen:
                raise ValueError(f"chunk {chunk.doc_id}#{chunk.seq} given twice")
            seen.add(chunk.id)

    def _upsert_chunks(self, conn: psycopg.Connection, chunks: Sequence[Chunk]) -> None:
        """Binary-COPY ``chunks`` into a session temp table, then upsert them into the chunks table."""
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in CHUNK_COLUMNS)
        conn.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            ).format(self._staging, self._chunks)
        )
        with conn.cursor().copy(
            sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT BINARY)").format(self._staging, columns)
        ) as copy:
            copy.set_types(COPY_TYPES)
            for chunk in chunks:
                copy.write_row(copy_row(chunk))
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in CHUNK_COLUMNS[1:]
        )
        conn.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT (id) DO UPDATE SET {}").format(
                self._chunks, columns, columns, self._staging, updates
            )
        )

    def _enqueue(self, conn: psycopg.Connection, point_ids: dict[str, list[uuid.UUID]]) -> None:
        """One outbox row per point id, with its doc_id (``point_ids``: doc_id -> its points)."""
        rows = [(point, doc_id) for doc_id, points in point_ids.items() for point in points]
        if rows:
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (point_id, doc_id) SELECT * FROM unnest(%s::uuid[], %s::text[])"
                ).format(self._outbox),
                ([point for point, _ in rows], [doc_id for _, doc_id in rows]),
            )

    # -------------------------------------------------------------------------------------------- search

    def search(self, vector: np.ndarray, k: int, flt: SearchFilter | None = None) -> list[SearchHit]:
        """The ``k`` nearest chunks, scored like Qdrant scores them (see :class:`SearchHit`).

        Unfiltered searches use the HNSW index (``hnsw.ef_search`` = max(config.ef_search, k)). Filtered
        searches scan exactly (btree on doc_id where it helps): pgvector 0.6 filters HNSW candidates after the
        scan, which can return fewer than ``k`` hits, whereas Qdrant filters inside the graph.
        """
        query = np.asarray(vector, dtype=np.float32)
        conditions: list[sql.Composable] = []
        params: dict[str, Any] = {"q": query, "k": k}
        if flt is not None and flt.doc_ids:
            conditions.append(sql.SQL("doc_id = ANY(%(doc_ids)s)"))
            params["doc_ids"] = list(flt.doc_ids)
        if flt is not None and flt.metadata:
            conditions.append(sql.SQL("metadata @> %(metadata)s"))
            params["metadata"] = Jsonb(flt.metadata)
        where = sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
        distance = sql.SQL("embedding {} %(q)s").format(sql.SQL(self._operator))
        statement = sql.SQL(
            "SELECT id, doc_id, seq, text, metadata, {distance} AS distance FROM {chunks} {where} "
            "ORDER BY {distance} LIMIT %(k)s"
        ).format(distance=distance, chunks=self._chunks, where=where)
        # The session's ef_search is config.ef_search (set per connection); only a larger k or a filter needs
        # transaction-local settings, sent with the query in one pipelined round trip.
        settings: list[sql.Composable] = []
        ef_search = min(max(self._config.ef_search, k), EF_SEARCH_MAX)
        if ef_search != self._config.ef_search:
            settings.append(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(ef_search)))
        if conditions:
            settings.append(sql.SQL("SET LOCAL enable_indexscan = off"))

        def read(conn: psycopg.Connection) -> list[tuple[Any, ...]]:
            if not settings:
                return conn.execute(statement, params).fetchall()
            with conn.pipeline(), conn.transaction():
                for setting in settings:
                    conn.execute(setting)
                cursor = conn.execute(statement, params)
            return cursor.fetchall()

        rows = self._read("search", read)
        return [
            SearchHit(
                id=row[0],
                score=self._score(row[5]),
                doc_id=row[1],
                seq=row[2],
                text=row[3],
                metadata=row[4],
            )
            for row in rows
        ]

    def _score(self, distance: float) -> float:
        """pgvector's distance in Qdrant's terms: cosine similarity, dot product, or euclidean distance."""
        if self._collection.distance is Distance.COSINE:
            return 1.0 - float(distance)
        if self._collection.distance is Distance.DOT:
            return -float(distance)
        return float(distance)

    # ------------------------------------------------------------------------------------------- reading

    def fetch_chunks(self, ids: Sequence[uuid.UUID]) -> list[Chunk]:
        """The chunks with these ids that exist, in the order of ``ids``."""
        if not ids:
            return []
        with self._transaction("fetch_chunks") as conn:
            by_id = {chunk.id: chunk for chunk in self._select_chunks(conn, list(ids))}
        return [by_id[i] for i in ids if i in by_id]

    def _select_chunks(self, conn: psycopg.Connection, ids: list[uuid.UUID]) -> list[Chunk]:
        rows = conn.execute(
            sql.SQL("SELECT {} FROM {} WHERE id = ANY(%s)").format(_CHUNK_SELECT, self._chunks),
            (ids,),
            binary=True,  # vectors arrive as float32 bytes, not text to parse
        ).fetchall()
        return [self._chunk(row) for row in rows]

    @staticmethod
    def _chunk(row: Sequence[Any]) -> Chunk:
        doc_id, seq, text, start, end, metadata, digest, model, embedding = row
        return Chunk(doc_id, seq, text, start, end, metadata, digest, model, _as_float32(embedding))

    def iter_chunks(self, batch_size: int = 1024) -> Iterator[list[Chunk]]:
        """Every chunk, in batches ordered by id (keyset pagination; one statement per batch, binary rows)."""
        last = uuid.UUID(int=0)  # point ids are uuid5, never the nil UUID
        statement = sql.SQL("SELECT {}, id FROM {} WHERE id > %s ORDER BY id LIMIT %s").format(
            _CHUNK_SELECT, self._chunks
        )
        while True:
            rows = self._read(
                "iter_chunks",
                lambda conn, after=last: conn.execute(statement, (after, batch_size), binary=True).fetchall(),
            )
            if not rows:
                return
            last = rows[-1][9]
            yield [self._chunk(row[:9]) for row in rows]
            if len(rows) < batch_size:
                return

    def all_ids(self) -> set[uuid.UUID]:
        """Every chunk's point id."""
        with self._transaction("all_ids") as conn:
            rows = conn.execute(sql.SQL("SELECT id FROM {}").format(self._chunks)).fetchall()
        return {row[0] for row in rows}

    def healthy(self) -> bool:
        """A cheap reachability check for readiness probes (``SELECT 1``); never raises."""
        try:
            with self._pool.connection(timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except Exception:
            return False

    def count(self) -> int:
        """Number of chunks."""
        return self._count(self._chunks, "count")

    def document_count(self) -> int:
        """Number of documents."""
        return self._count(self._documents, "document_count")

    def outbox_pending(self) -> int:
        """Number of outbox rows not yet applied to Qdrant."""
        return self._count(self._outbox, "outbox_pending")

    def status_counts(self, exact_below: int = 100_000) -> tuple[int, int]:
        """(documents, chunks) for status displays: exact for small tables, the planner's estimate
        (``pg_class.reltuples``) above ``exact_below`` rows, so a periodic refresh never scans a big table."""
        counts = []
        for table, operation in ((self._documents, "document_count"), (self._chunks, "count")):
            with self._transaction("estimate_count") as conn:
                row = conn.execute(
                    "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (table.as_string(conn),)
                ).fetchone()
            estimate = float(row[0]) if row else -1.0
            counts.append(int(estimate) if estimate >= exact_below else self._count(table, operation))
        return counts[0], counts[1]

    def _count(self, table: sql.Identifier, operation: str) -> int:
        with self._transaction(operation) as conn:
            row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
        return int(row[0]) if row else 0

    def sample_embeddings(self, n: int) -> list[np.ndarray]:
        """Up to ``n`` stored embeddings chosen at random (Bernoulli table sample first on big tables)."""
        with self._transaction("sample_embeddings") as conn:
            estimate_row = conn.execute(
                "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)", (self._chunks.as_string(conn),)
            ).fetchone()
            estimate = float(estimate_row[0]) if estimate_row else -1.0
            if estimate > 20 * n and estimate > 10_000:
                percent = min(100.0, 100.0 * 4 * n / estimate)
                sample = sql.SQL("TABLESAMPLE BERNOULLI ({})").format(sql.Literal(percent))
            else:
                sample = sql.SQL("")
            rows = conn.execute(
                sql.SQL("SELECT embedding FROM {} {} ORDER BY random() LIMIT %s").format(
                    self._chunks, sample
                ),
                (n,),
                binary=True,
            ).fetchall()
        return [_as_float32(row[0]) for row in rows]

    # -------------------------------------------------------------------------------------------- outbox

    @contextmanager
    def claim_outbox(self, limit: int, point_ids: Sequence[uuid.UUID] | None = None) -> Iterator[OutboxBatch]:
        """Claim up to ``limit`` outbox rows (oldest first) and yield them with the state to apply.

        The claim is one transaction: claimed rows are locked (``FOR UPDATE SKIP LOCKED``) and deleted by
        their row ids when the ``with`` block exits normally, then committed. If the block raises (Qdrant
        failed), the transaction rolls back and the rows stay for a later drain. ``point_ids`` restricts the
        claim to rows naming those points.

        Claims of one collection are serialised by a transaction-level advisory lock, so two drainers never
        push different snapshots of the same point to Qdrant out of order.
        """
        condition = sql.SQL("WHERE point_id = ANY(%(points)s)") if point_ids is not None else sql.SQL("")
        with self._transaction("outbox_apply") as conn:
            conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (f"faro.outbox:{self._outbox.as_string(conn)}",)
            )
            rows = conn.execute(
                sql.SQL(
                    "SELECT id, point_id FROM {} {} ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED"
                ).format(self._outbox, condition),
                {"limit": limit, "points": list(point_ids or [])},
            ).fetchall()
            row_ids = [row[0] for row in rows]
            named = list(dict.fromkeys(row[1] for row in rows))
            chunks = self._select_chunks(conn, named) if named else []
            present = {chunk.id for chunk in chunks}
            yield OutboxBatch(row_ids, named, chunks, [i for i in named if i not in present])
            if row_ids:
                conn.execute(sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(self._outbox), (row_ids,))

    # ---------------------------------------------------------------------------------------- inspection

    def outbox_point_ids(self, limit: int = 10_000) -> list[uuid.UUID]:
        """Point ids named by pending outbox rows, oldest first (repeats kept), at most ``limit``."""
        with self._transaction("outbox_point_ids") as conn:
            rows = conn.execute(
                sql.SQL("SELECT point_id FROM {} ORDER BY id LIMIT %s").format(self._outbox), (limit,)
            ).fetchall()
        return [row[0] for row in rows]

    def index_definitions(self) -> dict[str, str]:
        """``pg_indexes`` definitions of the chunks table's indexes, by index name (for checks and tests)."""
        with self._transaction("index_definitions") as conn:
            rows = conn.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = %s",
                (self._config.schema_name, f"{self._collection.name}_chunks"),
            ).fetchall()
        return {name: definition for name, definition in rows}
