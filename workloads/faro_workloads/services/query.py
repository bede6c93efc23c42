"""The query service (``faro serve query``): ``POST /v1/query`` over both stores, behind an optional bearer
key. It opens the stores, the embedder and a retriever that follows the live index generation (its model
included, which may be another than the configured one while a new generation builds); it writes nothing."""

from __future__ import annotations

from fastapi import FastAPI

from faro_workloads.api.app import build_api
from faro_workloads.api.auth import access_check
from faro_workloads.api.query import query_router
from faro_workloads.contract.settings import FaroSettings
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.embedding import build_embedder
from faro_workloads.core.live_generation import LiveGeneration, LiveRetriever
from faro_workloads.core.profile_runtime import ProfileRuntime, gateway_embedder_factory
from faro_workloads.core.retrieval import Answerer
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore
from faro_workloads.services.resources import HttpService, Resources
from faro_workloads.services.stores import StoreAccess, open_stores

QUERY_BODY_LIMIT = 256 * 1024


def build(settings: FaroSettings) -> HttpService:
    """The query app over freshly opened stores; closing it closes the retriever, embedder and stores."""
    resources = Resources()
    with resources.closed_on_error():
        stores = resources.add(
            open_stores(
                settings.postgres, settings.qdrant, settings.collection, StoreAccess.SERVICE, settings.hnsw
            )
        )
        embedder = resources.add(build_embedder(settings.embedding))
        runtime = resources.add(
            ProfileRuntime(
                Chunker(settings.chunking, embedder=embedder),
                embedder,
                gateway_embedder_factory(settings.embedding),
            )
        )
        live = LiveGeneration(stores.pg, stores.qdrant, runtime, settings.query)
        retriever = resources.add(LiveRetriever(live))
        app = build_query_app(settings, retriever, stores.pg, stores.qdrant)
    return HttpService(app, resources)


def build_query_app(
    settings: FaroSettings, retriever: Answerer, pg: PgVectorStore, qdrant: QdrantStore
) -> FastAPI:
    """Health and metrics stay open; ``/v1/query`` needs a key with the ``query`` scope when ``auth`` has any.

    Ready needs PostgreSQL only: without Qdrant the service still answers, from pgvector.
    """
    access = access_check(settings.auth, "query API", settings.pipeline)
    return build_api(
        title="Faro query service",
        routers=[query_router(retriever, settings.query)],
        readiness={"postgres": pg.healthy, "qdrant": qdrant.healthy},
        max_body_bytes=QUERY_BODY_LIMIT,
        required_for_ready=frozenset({"postgres"}),
        access=access,
        rate_limit=settings.auth.rate_limit,
    )
