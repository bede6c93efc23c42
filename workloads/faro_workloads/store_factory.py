"""Opening a pipeline's two stores from its settings (every cluster service does this at start)."""

from __future__ import annotations

import logging

from faro_workloads.core.config import FaroSettings
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

log = logging.getLogger(__name__)


def open_stores(settings: FaroSettings) -> tuple[PgVectorStore, QdrantStore]:
    """PostgreSQL must be reachable (it is the source of truth: fail fast); Qdrant may be down, since
    writes wait in the outbox and queries fall back, so its schema is only ensured when it answers."""
    pg = PgVectorStore(settings.postgres, settings.collection)
    try:
        pg.ensure_schema()
    except BaseException:
        pg.close()
        raise
    qdrant = QdrantStore(settings.qdrant, settings.collection)
    try:
        qdrant.ensure_collection()
    except Exception as exc:
        log.warning("qdrant is not ready (%s); continuing: writes wait in the outbox, queries fall back", exc)
    return pg, qdrant
