"""The statements every write of chunks shares: checking them, COPYing them in, queueing their points."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence

import numpy as np
import psycopg
from psycopg import sql

from faro_workloads.contract.settings import CollectionConfig
from faro_workloads.core.documents import Chunk
from faro_workloads.core.stores.postgres.chunk_rows import CHUNK_COLUMNS, COPY_TYPES, copy_row
from faro_workloads.core.stores.postgres.tables import CollectionTables


def validate_chunks(collection: CollectionConfig, chunks: Sequence[Chunk], doc_id: str | None) -> None:
    """Raise ValueError unless every chunk has the collection's dimension, belongs to ``doc_id`` (when
    given) and is given once."""
    dimension = collection.dimension
    seen: set[uuid.UUID] = set()
    for chunk in chunks:
        if doc_id is not None and chunk.doc_id != doc_id:
            raise ValueError(f"chunk of document {chunk.doc_id!r} written as part of {doc_id!r}")
        shape = np.shape(chunk.embedding)
        if shape != (dimension,):
            raise ValueError(
                f"chunk {chunk.doc_id}#{chunk.seq} has an embedding of shape {shape}, "
                f"collection {collection.name!r} holds {dimension}-d vectors"
            )
        if chunk.id in seen:
            raise ValueError(f"chunk {chunk.doc_id}#{chunk.seq} given twice")
        seen.add(chunk.id)


def upsert_chunks(conn: psycopg.Connection, tables: CollectionTables, chunks: Sequence[Chunk]) -> None:
    """Binary-COPY ``chunks`` into a session temp table, then upsert them into the chunks table."""
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in CHUNK_COLUMNS)
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        ).format(tables.staging, tables.chunks)
    )
    with conn.cursor().copy(
        sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT BINARY)").format(tables.staging, columns)
    ) as copy:
        copy.set_types(COPY_TYPES)
        for chunk in chunks:
            copy.write_row(copy_row(chunk))
    updates = sql.SQL(", ").join(
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in CHUNK_COLUMNS[1:]
    )
    conn.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT (id) DO UPDATE SET {}").format(
            tables.chunks, columns, columns, tables.staging, updates
        )
    )


def enqueue_points(
    conn: psycopg.Connection, tables: CollectionTables, point_ids: dict[str, list[uuid.UUID]]
) -> None:
    """One outbox row per point id of ``tables.generation``, with its doc_id (``point_ids``: doc_id -> its
    points)."""
    rows = [(point, doc_id) for doc_id, points in point_ids.items() for point in points]
    if rows:
        conn.execute(
            sql.SQL(
                "INSERT INTO {} (point_id, doc_id, generation) "
                "SELECT *, %s FROM unnest(%s::uuid[], %s::text[])"
            ).format(tables.outbox),
            (tables.generation, [point for point, _ in rows], [doc_id for _, doc_id in rows]),
        )


def replace_chunks(
    conn: psycopg.Connection, tables: CollectionTables, chunks: Mapping[str, Sequence[Chunk]]
) -> dict[str, list[uuid.UUID]]:
    """Make ``chunks`` (by doc_id) the documents' only chunks in ``tables.chunks``: upsert them, delete the
    documents' other chunks, and queue every point written or deleted; returns those points, by doc_id."""
    written = {doc_id: [chunk.id for chunk in document] for doc_id, document in chunks.items()}
    upsert_chunks(conn, tables, [chunk for document in chunks.values() for chunk in document])
    stale = conn.execute(
        sql.SQL("DELETE FROM {} WHERE doc_id = ANY(%s) AND NOT (id = ANY(%s)) RETURNING id, doc_id").format(
            tables.chunks
        ),
        (list(chunks), [point for points in written.values() for point in points]),
    ).fetchall()
    affected = {doc_id: list(points) for doc_id, points in written.items()}
    for point_id, doc_id in stale:
        affected[doc_id].append(point_id)
    enqueue_points(conn, tables, affected)
    return affected
