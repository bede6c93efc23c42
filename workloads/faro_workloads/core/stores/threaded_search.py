"""A store whose searches block, searched from an event loop: each call runs on the store's own thread(s)
(:class:`ThreadedSearch`). Qdrant's local mode is such a store: it takes one lock per call, so one thread
serves it best (queries queue in order instead of contending for the lock)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from functools import partial
from typing import TypeVar

import numpy as np

from faro_workloads.core.documents import RankedChunk, SearchHit
from faro_workloads.core.lexical import SparseVector
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.ports import ChunkSearch

T = TypeVar("T")


class ThreadedSearch:
    """:class:`~faro_workloads.core.stores.ports.AsyncChunkSearch` over a blocking ``store``, its calls run
    by ``executor``. A caller that stops waiting (a timeout) leaves a call that has started to finish on its
    thread; one still queued is dropped."""

    def __init__(self, store: ChunkSearch, executor: Executor) -> None:
        self._store = store
        self._executor = executor

    async def _run(self, call: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def search(self, vector: np.ndarray, k: int, flt: SearchFilter | None = None) -> list[SearchHit]:
        return await self._run(partial(self._store.search, vector, k, flt))

    async def search_grouped(
        self, vector: np.ndarray, k: int, per_document: int, candidates: int, flt: SearchFilter | None = None
    ) -> list[SearchHit]:
        return await self._run(partial(self._store.search_grouped, vector, k, per_document, candidates, flt))

    async def search_lexical(
        self, query: SparseVector, k: int, flt: SearchFilter | None = None
    ) -> list[SearchHit]:
        return await self._run(partial(self._store.search_lexical, query, k, flt))

    async def rank_both(
        self, vector: np.ndarray, query: SparseVector, k: int, flt: SearchFilter | None = None
    ) -> tuple[list[RankedChunk], list[RankedChunk]]:
        return await self._run(partial(self._store.rank_both, vector, query, k, flt))

    async def ranked_hits(self, ranking: Sequence[RankedChunk]) -> list[SearchHit]:
        return await self._run(partial(self._store.ranked_hits, ranking))

    async def chunk_texts(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        return await self._run(partial(self._store.chunk_texts, ids))
