"""The two vector stores: PostgreSQL + pgvector (source of truth) and Qdrant (fast search).

Consumers take the narrow protocols of :mod:`.ports`; the adapters are :mod:`.postgres` and :mod:`.qdrant`.
"""

from faro_workloads.core.stores.ports import CollectionMismatch, OutboxBatch, StoreSchemaMismatch
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

__all__ = ["CollectionMismatch", "OutboxBatch", "PgVectorStore", "QdrantStore", "StoreSchemaMismatch"]
