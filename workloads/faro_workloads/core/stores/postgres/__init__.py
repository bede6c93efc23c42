"""PostgreSQL + pgvector: the source of truth for documents, chunks and the Qdrant outbox.

Per collection, in schema ``PostgresConfig.schema_name``:

- ``{name}_documents``: one row per document (doc_id primary key).
- ``{name}_chunks``: one row per chunk, keyed by its deterministic point id, with the embedding in a
  ``vector(dim)`` column, an HNSW index whose opclass matches the distance, and an index on doc_id.
- ``{name}_outbox``: Qdrant work still to do. A row only *names* a point id (and its doc_id, for logs); the
  point's current state is read from ``{name}_chunks`` when the row is applied, so applying rows is
  idempotent and order-insensitive (present -> upsert to Qdrant, absent -> delete from Qdrant).

The store is split by job: :mod:`.pool` (connections, transactions, retries), :mod:`.tables` (names),
:mod:`.schema` (DDL), :mod:`.documents` with :mod:`.chunk_writes` and :mod:`.chunk_rows` (the documents
repository and its COPY), :mod:`.search`, :mod:`.scans` and :mod:`.outbox`; :class:`PgVectorStore`
(:mod:`.store`) composes them. Every SQL statement is composed with :mod:`psycopg.sql`; names are never
formatted into SQL text.
"""

from faro_workloads.core.stores.postgres.store import PgVectorStore

__all__ = ["PgVectorStore"]
