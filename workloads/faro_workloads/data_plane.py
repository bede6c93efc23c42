"""The data plane wired together: stores, outbox drainer, ingest and query, and the HTTP API over them.

:class:`IngestPath` is the write half (stores -> outbox drainer -> dual writer -> ingest service), which the
embedding engine runs alone; :class:`DataPlane` adds the retriever and the documents + query API. Local mode
builds one from an embedded PostgreSQL and Qdrant local mode; tests build one from whatever stores they
start.
"""

from __future__ import annotations

import logging
import threading

from fastapi import FastAPI

from faro_workloads.api.app import ReadinessCheck, build_api
from faro_workloads.api.documents import DocumentBackend, documents_router
from faro_workloads.api.query import query_router
from faro_workloads.contract.settings import ChunkingConfig, IngestConfig, QueryConfig
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.dual_writer import DualWriter
from faro_workloads.core.embedding import Embedder
from faro_workloads.core.embedding.cached import CachedEmbedder
from faro_workloads.core.ingest import IngestService
from faro_workloads.core.metrics import EMBEDDING_CACHE_PRUNED
from faro_workloads.core.outbox import OutboxDrainer
from faro_workloads.core.retrieval import Retriever
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
    through the outbox; in the background (:meth:`start_drainer`), until :meth:`close`, drain the outbox
    and prune the embedding cache."""

    def __init__(
        self, pg: PgVectorStore, qdrant: QdrantStore, embedder: Embedder, chunking: ChunkingConfig
    ) -> None:
        self.pg = pg
        self.drainer = OutboxDrainer(pg, qdrant)
        self.writer = DualWriter(pg, qdrant, self.drainer)
        self.ingest = IngestService(Chunker(chunking), CachedEmbedder(embedder, pg), pg, self.writer)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start_drainer(self, interval: float = 1.0) -> None:
        """Drain the outbox, and prune the embedding cache, in the background until :meth:`close`."""
        if not self._threads:
            self._threads = [
                threading.Thread(
                    target=self.drainer.run,
                    args=(self._stop,),
                    kwargs={"interval": interval},
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
        """Stop the background threads; the stores and the embedder belong to the caller."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads = []


class DataPlane:
    """Ingest + query over one collection in both stores, with a background outbox drainer."""

    def __init__(
        self,
        pg: PgVectorStore,
        qdrant: QdrantStore,
        embedder: Embedder,
        chunking: ChunkingConfig | None = None,
        query: QueryConfig | None = None,
        ingest: IngestConfig | None = None,
    ) -> None:
        self.pg = pg
        self.qdrant = qdrant
        self.embedder = embedder
        self.query_config = query or QueryConfig()
        self.ingest_config = ingest or IngestConfig()
        self.ingest_path = IngestPath(pg, qdrant, embedder, chunking or ChunkingConfig())
        self.drainer = self.ingest_path.drainer
        self.writer = self.ingest_path.writer
        self.ingest = self.ingest_path.ingest
        self.retriever = Retriever(embedder, pg, qdrant, self.query_config)

    def start_drainer(self, interval: float = 1.0) -> None:
        """Drain the outbox in the background until :meth:`close`."""
        self.ingest_path.start_drainer(interval)

    def api(
        self,
        title: str = "Faro",
        documents: DocumentBackend | None = None,
        readiness: dict[str, ReadinessCheck] | None = None,
    ) -> FastAPI:
        """The documents + query API with health, readiness and metrics.

        Documents go to ``documents`` (default: straight into the stores). Ready needs Postgres only:
        without Qdrant, queries fall back and the outbox keeps writes.
        """
        pg, qdrant = self.pg, self.qdrant
        max_document = self.ingest_config.max_body_bytes
        return build_api(
            title=title,
            routers=[
                documents_router(documents or self.ingest, self.ingest_config),
                query_router(self.retriever, self.query_config),
            ],
            readiness={"postgres": pg.healthy, "qdrant": qdrant.healthy, **(readiness or {})},
            max_body_bytes=max_document + _ENVELOPE_BYTES,
            required_for_ready=frozenset({"postgres"}),
        )

    def close(self) -> None:
        """Stop the drainer and the query pool; the stores belong to the caller."""
        self.ingest_path.close()
        self.retriever.close()
