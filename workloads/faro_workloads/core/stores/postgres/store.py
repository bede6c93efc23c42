"""PgVectorStore: one collection in PostgreSQL + pgvector, the object callers construct.

It owns the connection pool and hands each job to its part: :class:`PostgresSchema` (DDL),
:class:`PostgresDocuments` (records, writes and deletes), :class:`PostgresSearch` (k-NN),
:class:`PostgresScans` (bulk reads, counts, samples) and :class:`PostgresOutbox` (the Qdrant work queue).
It satisfies every Postgres port of :mod:`faro_workloads.core.stores.ports`; consumers take those.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager

import numpy as np

from faro_workloads.contract.settings import CollectionConfig, HnswConfig, PostgresConfig
from faro_workloads.core.documents import Chunk, DocumentRecord, SearchHit
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.ports import OutboxBatch
from faro_workloads.core.stores.postgres.documents import PostgresDocuments
from faro_workloads.core.stores.postgres.outbox import PostgresOutbox
from faro_workloads.core.stores.postgres.pool import PostgresPool
from faro_workloads.core.stores.postgres.scans import PostgresScans
from faro_workloads.core.stores.postgres.schema import PostgresSchema
from faro_workloads.core.stores.postgres.search import PostgresSearch
from faro_workloads.core.stores.postgres.tables import CollectionTables


class PgVectorStore:
    """One collection's tables in PostgreSQL + pgvector, reached through a small connection pool."""

    def __init__(
        self, config: PostgresConfig, collection: CollectionConfig, hnsw: HnswConfig | None = None
    ) -> None:
        self._collection = collection
        tables = CollectionTables.of(config.schema_name, collection)
        self._pool = PostgresPool(config, collection.name)
        self._schema = PostgresSchema(self._pool, tables, hnsw or HnswConfig())
        self._documents = PostgresDocuments(self._pool, tables)
        self._search = PostgresSearch(self._pool, tables, config)
        self._scans = PostgresScans(self._pool, tables)
        self._outbox = PostgresOutbox(self._pool, tables)

    @property
    def collection(self) -> CollectionConfig:
        return self._collection

    # ----------------------------------------------------------------------- lifecycle (PostgresSchema)

    def ensure_schema(self) -> None:
        """See :meth:`PostgresSchema.ensure_schema` (raises StoreSchemaMismatch)."""
        self._schema.ensure_schema()

    def drop(self) -> None:
        self._schema.drop()

    def index_definitions(self) -> dict[str, str]:
        return self._schema.index_definitions()

    def healthy(self) -> bool:
        return self._pool.healthy()

    def close(self) -> None:
        self._pool.close()

    # -------------------------------------------------------------------- documents (PostgresDocuments)

    def get_document(self, doc_id: str) -> DocumentRecord | None:
        return self._documents.get_document(doc_id)

    def get_documents(self, doc_ids: Sequence[str]) -> dict[str, DocumentRecord]:
        return self._documents.get_documents(doc_ids)

    def list_documents(self, limit: int = 100, after: str | None = None) -> list[DocumentRecord]:
        return self._documents.list_documents(limit, after)

    def write_document(self, record: DocumentRecord, chunks: list[Chunk]) -> list[uuid.UUID]:
        return self._documents.write_document(record, chunks)

    def write_documents(
        self, documents: Sequence[tuple[DocumentRecord, list[Chunk]]]
    ) -> dict[str, list[uuid.UUID]]:
        return self._documents.write_documents(documents)

    def delete_document(self, doc_id: str) -> list[uuid.UUID] | None:
        return self._documents.delete_document(doc_id)

    def bulk_load(self, chunks: list[Chunk]) -> None:
        self._documents.bulk_load(chunks)

    # ------------------------------------------------------------------------------ search (PostgresSearch)

    def search(self, vector: np.ndarray, k: int, flt: SearchFilter | None = None) -> list[SearchHit]:
        return self._search.search(vector, k, flt)

    # ------------------------------------------------------------------------------ scans (PostgresScans)

    def fetch_chunks(self, ids: Sequence[uuid.UUID]) -> list[Chunk]:
        return self._scans.fetch_chunks(ids)

    def iter_chunks(self, batch_size: int = 1024) -> Iterator[list[Chunk]]:
        return self._scans.iter_chunks(batch_size)

    def all_ids(self) -> set[uuid.UUID]:
        return self._scans.all_ids()

    def count(self) -> int:
        return self._scans.count()

    def document_count(self) -> int:
        return self._scans.document_count()

    def status_counts(self, exact_below: int = 100_000) -> tuple[int, int]:
        return self._scans.status_counts(exact_below)

    def sample_embeddings(self, n: int) -> list[np.ndarray]:
        return self._scans.sample_embeddings(n)

    # ----------------------------------------------------------------------------- outbox (PostgresOutbox)

    def claim_outbox(
        self, limit: int, point_ids: Sequence[uuid.UUID] | None = None
    ) -> AbstractContextManager[OutboxBatch]:
        return self._outbox.claim_outbox(limit, point_ids)

    def outbox_pending(self) -> int:
        return self._outbox.outbox_pending()

    def outbox_point_ids(self, limit: int = 10_000) -> list[uuid.UUID]:
        return self._outbox.outbox_point_ids(limit)
