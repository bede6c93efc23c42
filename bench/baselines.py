"""The raw store writes Faro is compared with: what each store costs with nothing of Faro around it.

- PostgreSQL: one binary ``COPY`` of every row straight into the collection's chunks table (the table and
  indexes Faro creates, so the HNSW index is maintained just the same), one transaction.
- Qdrant: ``qdrant_client.upsert`` of ready-made batches (``wait=True``), same batch size as Faro's, of
  the same points (dense and lexical sparse vectors, payload) into a collection laid out as Faro's.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql
from qdrant_client import QdrantClient, models

from bench.measure import timed
from bench.stores import BenchStores
from faro_workloads.contract.settings import CollectionConfig, QdrantConfig
from faro_workloads.core.documents import Chunk
from faro_workloads.core.stores.postgres.chunk_rows import CHUNK_COLUMNS, COPY_TYPES, copy_row
from faro_workloads.core.stores.qdrant_points import point_batch

UPSERT_BATCH = QdrantConfig(path=":memory:").upsert_batch_size


def point_batches(chunks: Sequence[Chunk], size: int = UPSERT_BATCH) -> list[models.Batch]:
    """``chunks`` as ready-to-send Qdrant batches (built before the clock starts): the same points Faro
    stores, i.e. the dense vector, the payload and the lexical sparse vector of hybrid search."""
    return [
        point_batch(part, lexical=True)
        for part in (chunks[start : start + size] for start in range(0, len(chunks), size))
    ]


def raw_qdrant_upsert(
    client: QdrantClient, collection: CollectionConfig, batches: list[models.Batch]
) -> None:
    for batch in batches:
        client.upsert(collection.name, points=batch, wait=True)


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
    collection = stores.new_collection("rawqd")
    client = stores.raw_qdrant(collection)
    batches = point_batches(chunks)
    seconds = timed(lambda: raw_qdrant_upsert(client, collection, batches))
    stores.close(client)
    return seconds
