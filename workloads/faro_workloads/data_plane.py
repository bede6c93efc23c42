"""The data plane wired together: stores, outbox drainer, ingest and query, and the HTTP API over them.

:class:`IngestPath` is the write half (stores -> outbox drainer -> dual writer -> ingest service), which the
embedding engine runs alone; :class:`DataPlane` adds the retriever and the documents + query API. Local mode
builds one from an embedded PostgreSQL and Qdrant local mode; tests build one from whatever stores they
start.
"""

from __future__ import annotations

import logging
import threading

from fastapi import APIRouter, FastAPI

from faro_workloads.api.app import ReadinessCheck, build_api
from faro_workloads.api.auth import AccessCheck
from faro_workloads.api.documents import DocumentBackend, documents_router
from faro_workloads.api.generations import generations_router
from faro_workloads.api.query import query_router
from faro_workloads.contract.embedding_settings import EmbeddingConfig
from faro_workloads.contract.settings import ChunkingConfig, GenerationsConfig, IngestConfig, QueryConfig
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.dual_writer import DualWriter
from faro_workloads.core.embedding import Embedder
from faro_workloads.core.generation_control import GenerationController
from faro_workloads.core.generation_worker import GenerationWorker
from faro_workloads.core.live_generation import LiveDocuments, LiveGeneration, LiveRetriever
from faro_workloads.core.metrics import EMBEDDING_CACHE_PRUNED
from faro_workloads.core.outbox import OutboxDrainer, drain_loop
from faro_workloads.core.profile_runtime import EmbedderFactory, ProfileRuntime, gateway_embedder_factory
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

log = logging.getLogger(__name__)

# Room for multipart framing and form fields around the largest document accepted.
_ENVELOPE_BYTES = 64 * 1024

CACHE_GRACE_SECONDS = 3600.0
"""Embedding cache entries younger than this stay even when no chunk holds their text (yet): a backfill or a
write under way, or one a crash interrupted, finds them."""
CACHE_PRUNE_INTERVAL_SECONDS = 900.0


class IngestPath:
    """Ingest into one collection of both stores: chunk, embed (through the embedding cache), dual-write
    through the outbox; in the background (:meth:`start_drainer`), until :meth:`close`, drain the outbox,
    prune the embedding cache and — with ``generations`` — run the collection's index generations.

    Without ``generations`` ingest writes the stores' own generation with ``embedder`` and ``chunking``.
    With it, ingest follows the live generation (:class:`LiveGeneration`), whatever its profile, and a
    :class:`GenerationWorker` builds a new generation whenever ``embedder`` and ``chunking`` (the wanted
    profile) differ from the live one, then cuts over; ``build_embedder`` makes the embedders of other
    profiles (default: the hashing embedder only).
    """

    def __init__(
        self,
        pg: PgVectorStore,
        qdrant: QdrantStore,
        embedder: Embedder,
        chunking: ChunkingConfig,
        *,
        generations: GenerationsConfig | None = None,
        build_embedder: EmbedderFactory | None = None,
        query: QueryConfig | None = None,
    ) -> None:
        self.pg = pg
        self.runtime = ProfileRuntime(
            Chunker(chunking, embedder=embedder),
            embedder,
            build_embedder or gateway_embedder_factory(EmbeddingConfig()),
        )
        self.live = LiveGeneration(
            pg, qdrant, self.runtime, query or QueryConfig(), follow=generations is not None
        )
        self.ingest = LiveDocuments(self.live)
        self.worker: GenerationWorker | None = None
        if generations is not None:
            controller = GenerationController(
                pg, qdrant, self.runtime.chunker, embedder, generations, self.runtime.embedder_for
            )
            self.worker = GenerationWorker(controller)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def drainer(self) -> OutboxDrainer:
        """The live generation's outbox drainer."""
        return self.live.view().drainer

    @property
    def writer(self) -> DualWriter:
        """The live generation's dual writer."""
        return self.live.view().writer

    def drain(self) -> int:
        """Drain the outbox of every generation served so far (the live one and those before it)."""
        return sum(view.drainer.drain() for view in self.live.views() or [self.live.view()])

    def start_generations(self) -> None:
        """Run the index generations in the background (with ``generations``) until :meth:`close`."""
        if self.worker is not None:
            self.worker.start()

    def start_drainer(self, interval: float = 1.0) -> None:
        """Drain the outbox and prune the embedding cache in the background until :meth:`close`."""
        if not self._threads:
            self._threads = [
                threading.Thread(
                    target=drain_loop,
                    args=(self.drain, self._stop, interval),
                    name="outbox-drainer",
                    daemon=True,
                ),
                threading.Thread(target=self._prune_cache, name="embedding-cache-pruner", daemon=True),
            ]
            for thread in self._threads:
                thread.start()

    def prune_embedding_cache(self) -> int:
        """Delete the cache entries older than :data:`CACHE_GRACE_SECONDS` that no chunk holds any more."""
        pruned = self.pg.prune_embedding_cache(CACHE_GRACE_SECONDS)
        EMBEDDING_CACHE_PRUNED.inc(pruned)
        if pruned:
            log.info("embedding cache: %d entries no chunk holds any more were deleted", pruned)
        return pruned

    def _prune_cache(self) -> None:
        while not self._stop.wait(CACHE_PRUNE_INTERVAL_SECONDS):
            try:
                self.prune_embedding_cache()
            except Exception as exc:  # PostgreSQL away: the next round tries again
                log.warning("embedding cache prune failed: %s", exc)

    def close(self) -> None:
        """Stop the background threads and the views; the stores and ``embedder`` belong to the caller."""
        self._stop.set()
        if self.worker is not None:
            self.worker.stop()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []
        self.live.close()
        self.runtime.close()


class DataPlane:
    """Ingest + query over one collection in both stores, with a background outbox drainer; with
    ``generations``, both follow the live index generation (see :class:`IngestPath`)."""

    def __init__(
        self,
        pg: PgVectorStore,
        qdrant: QdrantStore,
        embedder: Embedder,
        chunking: ChunkingConfig | None = None,
        query: QueryConfig | None = None,
        ingest: IngestConfig | None = None,
        *,
        generations: GenerationsConfig | None = None,
        build_embedder: EmbedderFactory | None = None,
    ) -> None:
        self.pg = pg
        self.qdrant = qdrant
        self.embedder = embedder
        self.query_config = query or QueryConfig()
        self.ingest_config = ingest or IngestConfig()
        self.ingest_path = IngestPath(
            pg,
            qdrant,
            embedder,
            chunking or ChunkingConfig(),
            generations=generations,
            build_embedder=build_embedder,
            query=self.query_config,
        )
        self.ingest = self.ingest_path.ingest
        self.retriever = LiveRetriever(self.ingest_path.live)

    @property
    def drainer(self) -> OutboxDrainer:
        return self.ingest_path.drainer

    @property
    def writer(self) -> DualWriter:
        return self.ingest_path.writer

    def start_drainer(self, interval: float = 1.0) -> None:
        """Drain the outbox in the background until :meth:`close`."""
        self.ingest_path.start_drainer(interval)

    def api(
        self,
        title: str = "Faro",
        documents: DocumentBackend | None = None,
        readiness: dict[str, ReadinessCheck] | None = None,
        access: AccessCheck | None = None,
    ) -> FastAPI:
        """The documents + query API with health, readiness and metrics.

        Documents go to ``documents`` (default: straight into the stores). Ready needs Postgres only:
        without Qdrant, queries fall back and the outbox keeps writes. ``access``: who may call (open
        without).
        """
        pg, qdrant = self.pg, self.qdrant
        max_document = self.ingest_config.max_body_bytes
        return build_api(
            title=title,
            routers=[
                documents_router(documents or self.ingest, self.ingest_config),
                query_router(self.retriever, self.query_config),
                *self._generation_routers(),
            ],
            readiness={"postgres": pg.healthy, "qdrant": qdrant.healthy, **(readiness or {})},
            max_body_bytes=max_document + _ENVELOPE_BYTES,
            required_for_ready=frozenset({"postgres"}),
            access=access,
        )

    def _generation_routers(self) -> list[APIRouter]:
        """``/v1/generations`` when this plane runs the index generations."""
        worker = self.ingest_path.worker
        return [generations_router(worker.controller)] if worker is not None else []

    def close(self) -> None:
        """Stop the background threads and the query pools; the stores belong to the caller."""
        self.ingest_path.close()
