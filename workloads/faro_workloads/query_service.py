"""The query service: ``POST /v1/query`` over both stores, behind an optional bearer key."""

from __future__ import annotations

import logging

from fastapi import FastAPI

from faro_workloads.api.app import build_api
from faro_workloads.api.query import query_router
from faro_workloads.core.config import FaroSettings
from faro_workloads.core.retrieval import Retriever
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

log = logging.getLogger(__name__)

QUERY_BODY_LIMIT = 256 * 1024


def build_query_app(
    settings: FaroSettings, retriever: Retriever, pg: PgVectorStore, qdrant: QdrantStore
) -> FastAPI:
    """Health and metrics stay open; ``/v1/query`` needs the key when ``auth.api_key`` is set.

    Ready needs PostgreSQL only: without Qdrant the service still answers, from pgvector.
    """
    key = settings.auth.api_key
    if key is None:
        log.warning("the query API is open to anyone who can reach it: FARO_AUTH__API_KEY is not set")
    return build_api(
        title="Faro query service",
        routers=[query_router(retriever, settings.query)],
        readiness={"postgres": pg.healthy, "qdrant": qdrant.healthy},
        max_body_bytes=QUERY_BODY_LIMIT,
        required_for_ready=frozenset({"postgres"}),
        api_key=key.get_secret_value() if key is not None else None,
    )
