"""Query answering: Qdrant first, PostgreSQL + pgvector when Qdrant fails, times out or is circuit-broken;
by vector, by words (BM25) or both fused (hybrid), the same way on either store.

The path is asynchronous end to end: the query service awaits :meth:`Answerer.ask` on its event loop, the
query's embedding is shared with concurrent queries (:class:`QueryEmbeddings`), the stores are searched
through their asynchronous side (:class:`~faro_workloads.core.stores.ports.AsyncChunkSearch`), and Qdrant's
timeout is an ``asyncio`` deadline. Blocking callers (the CLI, tools, tests) use :meth:`Answerer.query`,
which runs the same path on the process's background loop (:func:`run_blocking`).

The circuit breaker (:mod:`~faro_workloads.core.circuit_breaker`, which lets concurrent queries run
together) opens after ``breaker_failures`` consecutive Qdrant failures; while open, queries go straight to
Postgres without touching Qdrant (no retry storm), and after ``breaker_reset_seconds`` one trial query is let
through to Qdrant.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from faro_workloads.contract.api import SearchMode
from faro_workloads.contract.settings import QueryConfig
from faro_workloads.core.circuit_breaker import CircuitBreaker, CircuitOpen
from faro_workloads.core.documents import Neighbour, SearchHit, chunk_point_id
from faro_workloads.core.embedding import Embedder
from faro_workloads.core.embedding.query_batcher import QueryEmbeddings
from faro_workloads.core.fusion import (
    GROUPING_OVERFETCH,
    MAX_FETCH,
    at_most_per_document,
    reciprocal_rank_fusion,
    tied_past,
)
from faro_workloads.core.lexical import query_vector
from faro_workloads.core.loop_bound import run_blocking
from faro_workloads.core.metrics import (
    QDRANT_CIRCUIT_OPEN,
    QUERIES,
    QUERY_FALLBACKS,
    QUERY_MODES,
    QUERY_SECONDS,
)
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.ports import AsyncChunkSearch, AsyncSearchSource
from faro_workloads.errors import DependencyUnavailable

log = logging.getLogger(__name__)


class Backend(StrEnum):
    AUTO = "auto"
    QDRANT = "qdrant"
    POSTGRES = "postgres"


class QdrantQueryTimeout(DependencyUnavailable, TimeoutError):
    """Qdrant did not answer within the query timeout."""

    dependency = "Qdrant"


@dataclass(frozen=True, slots=True)
class QueryResult:
    hits: list[SearchHit]
    backend: Backend
    fallback_reason: str | None
    seconds: float
    generation: int | None = None
    """The index generation that answered (set by ``LiveRetriever``)."""
    mode: SearchMode = SearchMode.DENSE
    """How the chunks were found (a lexical or hybrid query on a generation without lexical terms is
    answered by vector)."""


MAX_NEIGHBOURS = 5
"""The most chunks on each side of a hit a query may ask for."""


@dataclass(frozen=True, slots=True)
class Question:
    """What a query asks: ``top_k`` chunks for ``text`` from ``backend`` (auto: Qdrant, falling back to
    PostgreSQL); ``mode`` and ``per_document`` (at most that many chunks of one document, 0: no limit)
    default to the configuration's; ``neighbours``: the chunks on each side of a hit to return with it."""

    text: str
    top_k: int
    filter: SearchFilter | None = None
    backend: Backend = Backend.AUTO
    mode: SearchMode | None = None
    per_document: int | None = None
    neighbours: int = 0


class Answerer(ABC):
    """Something that answers a :class:`Question` (a :class:`Retriever`, or one that follows the live
    index generation): :meth:`ask` on an event loop, :meth:`query` from blocking code."""

    @abstractmethod
    async def ask(self, question: Question) -> QueryResult: ...

    def query(
        self,
        text: str,
        top_k: int,
        flt: SearchFilter | None = None,
        backend: Backend = Backend.AUTO,
        mode: SearchMode | None = None,
        per_document: int | None = None,
        neighbours: int = 0,
    ) -> QueryResult:
        """:meth:`ask` from blocking code (on the process's background loop: :func:`run_blocking`), the
        question given by its parts; safe from many threads at once."""
        return run_blocking(self.ask(Question(text, top_k, flt, backend, mode, per_document, neighbours)))

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the answerer holds (the stores belong to its owner)."""


class Retriever(Answerer):
    """Embeds a query and searches the stores with fallback, by vector, by words or both (``mode``).

    ``lexical``: whether the stores' chunks carry lexical terms (the generation's index profile says so);
    without, every query is answered by vector.
    """

    def __init__(
        self,
        embeddings: QueryEmbeddings,
        pg: AsyncChunkSearch,
        qdrant: AsyncChunkSearch,
        config: QueryConfig,
        *,
        lexical: bool = True,
    ) -> None:
        self._embeddings = embeddings
        self._pg = pg
        self._qdrant = qdrant
        self._config = config
        self._lexical = lexical
        self._breaker = CircuitBreaker(
            config.breaker_failures,
            config.breaker_reset_seconds,
            on_change=lambda opened: QDRANT_CIRCUIT_OPEN.set(1 if opened else 0),
        )

    @classmethod
    def over(
        cls,
        embedder: Embedder,
        pg: AsyncSearchSource,
        qdrant: AsyncSearchSource,
        config: QueryConfig,
        *,
        lexical: bool = True,
    ) -> Retriever:
        """A retriever over two stores' asynchronous searches, embedding queries with ``embedder``."""
        return cls(
            QueryEmbeddings(embedder), pg.async_search(), qdrant.async_search(), config, lexical=lexical
        )

    async def ask(self, question: Question) -> QueryResult:
        """The ``top_k`` chunks that answer ``question``."""
        started = time.perf_counter()
        mode = question.mode or self._config.default_mode
        per_document = question.per_document
        if per_document is None:
            per_document = self._config.max_chunks_per_document
        if mode is not SearchMode.DENSE and not self._lexical:
            mode = SearchMode.DENSE
        text = question.text
        vector = await self._embeddings.embed(text) if mode is not SearchMode.LEXICAL else None
        terms = query_vector(text) if mode is not SearchMode.DENSE else None
        query = _Query(vector, terms, mode, per_document, question.neighbours)
        return await self._answer(query, question.top_k, question.filter, question.backend, started)

    async def ask_vector(
        self, vector: np.ndarray, top_k: int, flt: SearchFilter | None, backend: Backend
    ) -> QueryResult:
        """A dense search for a ready vector."""
        query = _Query(vector, None, SearchMode.DENSE)
        return await self._answer(query, top_k, flt, backend, time.perf_counter())

    def query_vector(
        self, vector: np.ndarray, top_k: int, flt: SearchFilter | None, backend: Backend
    ) -> QueryResult:
        """:meth:`ask_vector` from blocking code."""
        return run_blocking(self.ask_vector(vector, top_k, flt, backend))

    async def _answer(
        self, query: _Query, top_k: int, flt: SearchFilter | None, backend: Backend, started: float
    ) -> QueryResult:
        flt = None if flt is None or flt.is_empty() else flt
        fallback_reason: str | None = None
        if backend is Backend.POSTGRES:
            hits, answered = await self._search(self._pg, query, top_k, flt), Backend.POSTGRES
        elif backend is Backend.QDRANT:
            hits, answered = await self._search_qdrant(query, top_k, flt), Backend.QDRANT
        else:
            try:
                with self._breaker.calling():
                    hits, answered = await self._search_qdrant(query, top_k, flt), Backend.QDRANT
            except CircuitOpen:
                fallback_reason = "circuit_open"
            except QdrantQueryTimeout:
                fallback_reason = "timeout"
            except Exception as exc:  # any Qdrant failure falls back; Postgres is the source of truth
                log.warning("qdrant search failed, answering from postgres: %s", exc)
                fallback_reason = "error"
            if fallback_reason is not None:
                QUERY_FALLBACKS.labels(fallback_reason).inc()
                hits, answered = await self._search(self._pg, query, top_k, flt), Backend.POSTGRES
        seconds = time.perf_counter() - started
        _ANSWERED[answered].observe(seconds)
        _COUNTED[answered].inc()
        _MODES[query.mode].inc()
        return QueryResult(hits, answered, fallback_reason, seconds, mode=query.mode)

    async def _search(
        self, store: AsyncChunkSearch, query: _Query, top_k: int, flt: SearchFilter | None
    ) -> list[SearchHit]:
        """One store's answer: its dense or lexical ranking, or both fused, then at most
        ``query.per_document`` chunks of a document (:mod:`~faro_workloads.core.fusion`)."""
        fetch = min(top_k * GROUPING_OVERFETCH, MAX_FETCH) if query.per_document > 0 else top_k
        if query.mode is SearchMode.DENSE and query.per_document > 0:  # grouped by the store
            hits = await store.search_grouped(query.vector, top_k, query.per_document, fetch, flt)
            return await with_neighbours(store, hits, query.neighbours)
        if query.mode is SearchMode.DENSE:
            ranking = await past_ties(lambda n: store.search(query.vector, n, flt), fetch)
        elif query.mode is SearchMode.LEXICAL:
            ranking = await past_ties(lambda n: store.search_lexical(query.terms, n, flt), fetch)
        else:
            candidates = max(fetch, self._config.hybrid_candidates)
            dense, lexical = await store.rank_both(query.vector, query.terms, candidates, flt)
            rankings = [(dense, 1.0), (lexical, self._config.lexical_weight)]
            ranking = await store.ranked_hits(reciprocal_rank_fusion(rankings, self._config.rrf_k, fetch))
        hits = at_most_per_document(ranking, query.per_document)[:top_k]
        return await with_neighbours(store, hits, query.neighbours)

    async def _search_qdrant(self, query: _Query, top_k: int, flt: SearchFilter | None) -> list[SearchHit]:
        try:
            async with asyncio.timeout(self._config.qdrant_timeout_seconds):
                return await self._search(self._qdrant, query, top_k, flt)
        except TimeoutError as exc:
            raise QdrantQueryTimeout(
                f"qdrant did not answer within {self._config.qdrant_timeout_seconds}s"
            ) from exc


TIE_REFETCH = 4
"""How many times as many chunks a search asks for again when its last place ties (see :func:`past_ties`)."""


async def past_ties(search: Callable[[int], Awaitable[list[SearchHit]]], wanted: int) -> list[SearchHit]:
    """The first ``wanted`` hits of ``search(n)`` (a store's ranking, tied chunks in id order), the chunks
    tied at the last place chosen by id whichever store answers: one more than wanted is asked for, and when
    it ties with the last place, ``TIE_REFETCH`` times as many once more (a tie running further than that,
    e.g. a question no chunk's words or vector answers better than any other, stays the store's choice)."""
    hits = await search(wanted + 1)
    if tied_past(hits, wanted):
        hits = await search(min(wanted * TIE_REFETCH + 8, MAX_FETCH))
    return hits[:wanted]


# The metrics' children, looked up once (a lookup takes a lock; a query records three).
_ANSWERED = {backend: QUERY_SECONDS.labels(backend.value) for backend in (Backend.QDRANT, Backend.POSTGRES)}
_COUNTED = {backend: QUERIES.labels(backend.value) for backend in (Backend.QDRANT, Backend.POSTGRES)}
_MODES = {mode: QUERY_MODES.labels(mode.value) for mode in SearchMode}


@dataclass(frozen=True, slots=True)
class _Query:
    """What a query searches with: its vector (not for lexical), its terms (not for dense), and how."""

    vector: Any
    terms: Any
    mode: SearchMode
    per_document: int = 0
    neighbours: int = 0


async def with_neighbours(store: AsyncChunkSearch, hits: list[SearchHit], neighbours: int) -> list[SearchHit]:
    """``hits``, each with the chunks up to ``neighbours`` places before and after it in its document
    (those that exist), read from ``store`` in one call by their ids (a chunk's id is its document's id
    and its place)."""
    if neighbours <= 0 or not hits:
        return hits
    steps = [step for step in range(-neighbours, neighbours + 1) if step]
    around = {hit.id: [hit.seq + step for step in steps if hit.seq + step >= 0] for hit in hits}
    ids = {(hit.doc_id, seq): chunk_point_id(hit.doc_id, seq) for hit in hits for seq in around[hit.id]}
    texts = await store.chunk_texts(list(dict.fromkeys(ids.values())))

    def found(hit: SearchHit) -> tuple[Neighbour, ...]:
        return tuple(
            Neighbour(seq, texts[ids[hit.doc_id, seq]])
            for seq in around[hit.id]
            if ids[hit.doc_id, seq] in texts
        )

    return [dataclasses.replace(hit, neighbours=found(hit)) for hit in hits]
