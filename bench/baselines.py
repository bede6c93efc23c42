"""The raw store writes Faro is compared with: what each store costs with nothing of Faro around it.

- PostgreSQL: one binary ``COPY`` of every row straight into the collection's chunks table (the table and
  indexes Faro creates, so the HNSW index is maintained just the same), one transaction.
- Qdrant: the engine's own upsert of ready-made batches (:mod:`bench.raw_qdrant`), same batch size as
  Faro's, of the same points (dense and lexical sparse vectors, payload) into a collection laid out as
  Faro's.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from bench.measure import timed
from bench.stores import BenchStores
from faro_workloads.contract.settings import CollectionConfig
from faro_workloads.core.documents import Chunk
from faro_workloads.core.stores.postgres.chunk_rows import CHUNK_COLUMNS, COPY_TYPES, copy_row


def copy_rows(chunks: Sequence[Chunk]) -> list[tuple[object, ...]]:
    """``chunks`` as binary COPY rows (built before the clock starts)."""
    return [copy_row(chunk) for chunk in chunks]


def raw_pg_copy(stores: BenchStores, collection: CollectionConfig, rows: list[tuple[object, ...]]) -> None:
    """One binary COPY of ``rows`` into the collection's chunks table, committed."""
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in CHUNK_COLUMNS)
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT BINARY)").format(
        stores.chunks_table(collection), columns
    )
    with stores.connect() as conn, conn.cursor().copy(statement) as copy:
        copy.set_types(COPY_TYPES)
        for row in rows:
            copy.write_row(row)


def timed_raw_qdrant_upsert(stores: BenchStores, chunks: Sequence[Chunk]) -> float:
    """Seconds the raw batched upsert of ``chunks`` takes into a fresh collection (batches built first)."""
    raw = stores.raw_qdrant(stores.new_collection("rawqd"))
    batches = raw.batches(chunks)
    seconds = timed(lambda: raw.upsert(batches))
    stores.close(raw)
    return seconds
