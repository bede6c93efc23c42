"""Following the live index generation: what ingest writes and queries read, switched within seconds of a
cutover or a rollback, without a restart.

:class:`LiveGeneration` reads the registry at most every ``poll_seconds`` (on use) and keeps one
:class:`GenerationView` per generation it has served: the generation's stores, the embedder and chunker of
its profile, and the ingest service and retriever over them. A request takes one view and uses it whole, so
a question is never embedded with one generation's model and searched in another's stores, and a document
is never cut for one and written to the other. :class:`LiveDocuments` and :class:`LiveRetriever` are what
the HTTP API and the embedding worker hold.

While the registry is empty (nothing registered a generation yet) the first generation is served with the
configured profile. With ``follow=False`` the store's own generation is served with the configured profile,
and the registry is never read (a data plane over stores a test or a tool opened).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace

from faro_workloads.contract.generations import FIRST_GENERATION, GenerationState, in_state
from faro_workloads.contract.index_profile import ChunkingIdentity, IndexProfile
from faro_workloads.contract.settings import QueryConfig
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.document_state import DocumentStatus
from faro_workloads.core.document_status import DocumentStatuses
from faro_workloads.core.documents import ChunkSpan, SourceText
from faro_workloads.core.dual_writer import DualWriter
from faro_workloads.core.embedding import Embedder
from faro_workloads.core.embedding.cached import CachedEmbedder
from faro_workloads.core.ingest import IncomingDocument, IngestResult, IngestService
from faro_workloads.core.outbox import OutboxDrainer
from faro_workloads.core.profile_runtime import ProfileRuntime
from faro_workloads.core.retrieval import Answerer, QueryResult, Question, Retriever
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore


class GenerationView:
    """Everything that serves one generation; its retriever (and query thread pool) is made on first use,
    so a process that only ingests never makes one."""

    def __init__(
        self,
        generation: int,
        profile: IndexProfile,
        pg: PgVectorStore,
        qdrant: QdrantStore,
        embedder: Embedder,
        chunker: Chunker,
        query: QueryConfig,
    ) -> None:
        self.generation = generation
        self.profile = profile
        self.pg = pg
        self.qdrant = qdrant
        self.embedder = embedder
        self.drainer = OutboxDrainer(pg, qdrant)
        self.writer = DualWriter(pg, qdrant, self.drainer)
        self.ingest = IngestService(chunker, CachedEmbedder(embedder, pg), pg, self.writer)
        self._query = query
        self._retriever: Retriever | None = None
        self._lock = threading.Lock()

    @property
    def retriever(self) -> Retriever:
        with self._lock:
            if self._retriever is None:
                lexical = self.profile.lexical is not None
                self._retriever = Retriever.over(
                    self.embedder, self.pg, self.qdrant, self._query, lexical=lexical
                )
            return self._retriever

    def close(self) -> None:
        with self._lock:
            if self._retriever is not None:
                self._retriever.close()


class LiveGeneration:
    """The live generation's view, re-read from the registry at most every ``poll_seconds``."""

    def __init__(
        self,
        pg: PgVectorStore,
        qdrant: QdrantStore,
        runtime: ProfileRuntime,
        query: QueryConfig,
        poll_seconds: float = 2.0,
        follow: bool = True,
    ) -> None:
        self._follow = follow
        self._pg = pg
        self._qdrant = qdrant
        self._runtime = runtime
        self._query = query
        self._poll = poll_seconds
        self._views: dict[tuple[int, str], GenerationView] = {}
        self._current: GenerationView | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    @property
    def following(self) -> bool:
        """Whether the registry's live generation is followed (else the stores' own is served)."""
        return self._follow

    def view(self) -> GenerationView:
        """The live generation's view (the registry re-read when the last look is older than the poll)."""
        return self.fresh_view() or self.refresh()

    def fresh_view(self) -> GenerationView | None:
        """The live generation's view if the last look at the registry is recent enough, else None."""
        current = self._current
        if current is not None and (not self._follow or time.monotonic() - self._checked < self._poll):
            return current
        return None

    def refresh(self) -> GenerationView:
        """Re-read the registry now and switch to the live generation's view (callers that waited for
        another's refresh take its answer)."""
        asked = time.monotonic()
        with self._lock:
            if self._current is not None and self._checked >= asked:
                return self._current
            if self._follow:
                generations = self._pg.generations()
                live = in_state(generations, GenerationState.LIVE)
                generation, profile = (
                    (live.id, live.profile) if live else (FIRST_GENERATION, self._runtime.profile)
                )
            else:
                generation, profile = self._pg.generation, self._runtime.profile
            key = (generation, profile.fingerprint)
            if key not in self._views:
                self._views[key] = self._build(generation, profile)
            self._current = self._views[key]
            self._checked = time.monotonic()
            return self._current

    def views(self) -> list[GenerationView]:
        """Every view built so far (their drainers hold the outbox rows of those generations)."""
        with self._lock:
            return list(self._views.values())

    def _build(self, generation: int, profile: IndexProfile) -> GenerationView:
        same = generation == self._pg.generation
        pg = self._pg if same else self._pg.for_generation(generation)
        qdrant = self._qdrant if same else self._qdrant.for_generation(generation)
        embedder = self._runtime.embedder_for(profile.embedding)
        chunker = self._runtime.chunker_for(profile)
        return GenerationView(generation, profile, pg, qdrant, embedder, chunker, self._query)

    def close(self) -> None:
        with self._lock:
            for view in self._views.values():
                view.close()
            self._views.clear()
            self._current = None


class LiveDocuments:
    """A document backend (API, embedding worker, folder ingest) over the live generation's ingest."""

    asynchronous = False

    def __init__(self, live: LiveGeneration) -> None:
        self._live = live

    @property
    def profile(self) -> IndexProfile:
        return self._live.view().profile

    def ingest(self, document: IncomingDocument) -> IngestResult:
        return self._live.view().ingest.ingest(document)

    def ingest_many(
        self,
        documents: Iterable[IncomingDocument],
        batch_chunks: int = 512,
        on_error: Callable[[IncomingDocument, ValueError], None] | None = None,
    ) -> Iterator[IngestResult]:
        return self._live.view().ingest.ingest_many(documents, batch_chunks, on_error)

    def ingest_chunks(
        self,
        doc_id: str,
        digest: str,
        source: str,
        metadata: dict,
        spans: list[ChunkSpan],
        chunking: ChunkingIdentity | None = None,
        text: SourceText | None = None,
        source_etag: str = "",
        still_current: Callable[[], bool] | None = None,
    ) -> IngestResult:
        """Chunks cut by the chunking service: used as they are, unless the live generation (followed) cuts
        another way, when they are cut again from ``text`` as it does (one vector space per generation).
        ``still_current``: see :meth:`IngestService.ingest_chunks`."""
        view = self._live.view()
        recut = self._live.following and chunking is not None and chunking != view.profile.chunking
        if recut and text is not None:
            spans, chunking = view.ingest.chunker.chunk(text.text, text.fmt), view.profile.chunking
        return view.ingest.ingest_chunks(
            doc_id, digest, source, metadata, spans, chunking, text, source_etag, still_current
        )

    def delete(self, doc_id: str, held_tenant: str | None = None, acknowledged: bool = False) -> bool:
        return self._live.view().ingest.delete(doc_id, held_tenant, acknowledged)

    def get(self, doc_id: str) -> DocumentStatus | None:
        """The document's state: ``searchable`` once both stores hold it, ``embedded`` while its Qdrant write
        is queued, ``deleted`` after a delete."""
        return DocumentStatuses(self._live.view().pg).status(doc_id)

    def list(self, limit: int = 100, after: str | None = None) -> list[DocumentStatus]:
        view = self._live.view()
        return DocumentStatuses(view.pg).listed(view.ingest.list(limit, after), acknowledged=False)


class LiveRetriever(Answerer):
    """Queries over the live generation: one view per query, its model and its stores."""

    def __init__(self, live: LiveGeneration) -> None:
        self._live = live

    async def ask(self, question: Question) -> QueryResult:
        """The live view's answer; the registry, when due for a look, is read on a thread (not the loop)."""
        view = self._live.fresh_view() or await asyncio.to_thread(self._live.refresh)
        return replace(await view.retriever.ask(question), generation=view.generation)

    def close(self) -> None:
        self._live.close()
