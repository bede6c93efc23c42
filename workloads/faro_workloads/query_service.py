"""The query service: ``POST /v1/query`` over both stores, behind an optional bearer key."""

from __future__ import annotations

from fastapi import FastAPI

from faro_workloads.api.app import build_api
from faro_workloads.api.auth import bearer_key_dependency
from faro_workloads.api.query import query_router
from faro_workloads.core.config import FaroSettings
from faro_workloads.core.retrieval import Retriever
from faro_workloads.core.stores.pgvector import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

QUERY_BODY_LIMIT = 256 * 1024


def build_query_app(
    settings: FaroSettings, retriever: Retriever, pg: PgVectorStore, qdrant: QdrantStore
) -> FastAPI:
    """Health and metrics stay open; ``/v1/query`` needs the key when ``auth.api_key`` is set.

    Ready needs PostgreSQL only: without Qdrant the service still answers, from pgvector.
    """
    key = settings.auth.api_key
    dependencies = [bearer_key_dependency(key.get_secret_value())] if key else []
    return build_api(
        title="Faro query service",
        routers=[query_router(retriever, settings.query, dependencies)],
        readiness={"postgres": pg.healthy, "qdrant": qdrant.healthy},
        max_body_bytes=QUERY_BODY_LIMIT,
        required_for_ready=frozenset({"postgres"}),
    )
