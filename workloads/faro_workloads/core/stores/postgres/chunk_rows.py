"""How a chunk is written to (binary COPY) and read from the chunks table."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from faro_workloads.core.documents import Chunk
from faro_workloads.core.lexical import chunk_vector

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
    "lexical_terms",
    "lexical_weights",
)
COPY_TYPES = [
    "uuid", "text", "int4", "text", "int4", "int4", "jsonb", "text", "text", "vector", "int4[]", "float4[]"
]  # fmt: skip

# The columns a Chunk is read from (see chunk_from_row): its lexical weights are derived from its text.
CHUNK_SELECT = sql.SQL(", ").join(sql.Identifier(column) for column in CHUNK_COLUMNS[1:10])


def copy_row(chunk: Chunk) -> tuple[object, ...]:
    """``chunk`` as a binary COPY row in :data:`CHUNK_COLUMNS` order (types :data:`COPY_TYPES`), with its
    lexical weights (:func:`~faro_workloads.core.lexical.chunk_vector`)."""
    lexical = chunk_vector(chunk)
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
        lexical.indices,
        lexical.values,
    )


def as_float32(value: Any) -> np.ndarray:
    """A pgvector value (``pgvector.Vector`` or ndarray, depending on the pgvector version) as float32."""
    if hasattr(value, "to_numpy"):
        return np.asarray(value.to_numpy(), dtype=np.float32)
    return np.asarray(value, dtype=np.float32)


def chunk_from_row(row: Sequence[Any]) -> Chunk:
    """The Chunk of a row of :data:`CHUNK_SELECT` columns."""
    doc_id, seq, text, start, end, metadata, digest, model, embedding = row
    return Chunk(doc_id, seq, text, start, end, metadata, digest, model, as_float32(embedding))


def select_chunks(
    conn: psycopg.Connection, chunks_table: sql.Identifier, ids: list[uuid.UUID]
) -> list[Chunk]:
    """The chunks with these ids that exist, in no particular order."""
    rows = conn.execute(
        sql.SQL("SELECT {} FROM {} WHERE id = ANY(%s)").format(CHUNK_SELECT, chunks_table),
        (ids,),
        binary=True,  # vectors arrive as float32 bytes, not text to parse
    ).fetchall()
    return [chunk_from_row(row) for row in rows]
