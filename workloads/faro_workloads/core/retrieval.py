"""Query answering: Qdrant first, PostgreSQL + pgvector when Qdrant fails, times out or is circuit-broken.

The breaker (pybreaker) opens after ``breaker_failures`` consecutive Qdrant failures; while open, queries go
straight to Postgres without touching Qdrant (no retry storm), and after ``breaker_reset_seconds`` one trial
query is let through to Qdrant.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import pybreaker

from faro_workloads.contract.settings import QueryConfig
from faro_workloads.core.documents import SearchHit
from faro_workloads.core.embedding import Embedder
from faro_workloads.core.metrics import QUERIES, QUERY_FALLBACKS, QUERY_SECONDS
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.ports import VectorSearch
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


class Retriever:
    """Embeds a query and searches the stores with fallback."""

    def __init__(
        self, embedder: Embedder, pg: VectorSearch, qdrant: VectorSearch, config: QueryConfig
    ) -> None:
        self._embedder = embedder
        self._pg = pg
        self._qdrant = qdrant
        self._config = config
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=config.breaker_failures,
            reset_timeout=config.breaker_reset_seconds,
            name="qdrant",
            throw_new_error_on_trip=False,  # the failing call reports its own cause, not "open"
        )
        self._qdrant_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="qdrant-query")

    def query(self, text: str, top_k: int, flt: SearchFilter | None, backend: Backend) -> QueryResult:
        started = time.perf_counter()
        vector = self._embedder.embed_one(text)
        return self.query_vector(vector, top_k, flt, backend, started=started)

    def query_vector(
        self,
        vector: np.ndarray,
        top_k: int,
        flt: SearchFilter | None,
        backend: Backend,
        started: float | None = None,
    ) -> QueryResult:
        started = time.perf_counter() if started is None else started
        flt = None if flt is None or flt.is_empty() else flt
        fallback_reason: str | None = None
        if backend is Backend.POSTGRES:
            hits, answered = self._pg.search(vector, top_k, flt), Backend.POSTGRES
        elif backend is Backend.QDRANT:
            hits, answered = self._search_qdrant(vector, top_k, flt), Backend.QDRANT
        else:
            try:
                hits, answered = self._breaker.call(self._search_qdrant, vector, top_k, flt), Backend.QDRANT
            except pybreaker.CircuitBreakerError:
                fallback_reason = "circuit_open"
            except QdrantQueryTimeout:
                fallback_reason = "timeout"
            except Exception as exc:  # any Qdrant failure falls back; Postgres is the source of truth
                log.warning("qdrant search failed, answering from postgres: %s", exc)
                fallback_reason = "error"
            if fallback_reason is not None:
                QUERY_FALLBACKS.labels(fallback_reason).inc()
                hits, answered = self._pg.search(vector, top_k, flt), Backend.POSTGRES
        seconds = time.perf_counter() - started
        QUERY_SECONDS.labels(answered.value).observe(seconds)
        QUERIES.labels(answered.value).inc()
        return QueryResult(hits, answered, fallback_reason, seconds)

    def _search_qdrant(self, vector: np.ndarray, top_k: int, flt: SearchFilter | None) -> list[SearchHit]:
        future = self._qdrant_pool.submit(self._qdrant.search, vector, top_k, flt)
        try:
            return future.result(timeout=self._config.qdrant_timeout_seconds)
        except FutureTimeout as exc:
            future.cancel()
            raise QdrantQueryTimeout(
                f"qdrant did not answer within {self._config.qdrant_timeout_seconds}s"
            ) from exc

    def close(self) -> None:
        self._qdrant_pool.shutdown(wait=False, cancel_futures=True)
