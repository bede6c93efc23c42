"""The two vector stores: PostgreSQL + pgvector (source of truth) and Qdrant (fast search)."""

from faro_workloads.core.stores.pgvector import OutboxBatch, PgVectorStore, StoreSchemaMismatch
from faro_workloads.core.stores.qdrant import CollectionMismatch, QdrantStore

__all__ = ["CollectionMismatch", "OutboxBatch", "PgVectorStore", "QdrantStore", "StoreSchemaMismatch"]
