"""Query embeddings for the query path's event loop (:class:`QueryEmbeddings`): concurrent queries share
model calls, with no timer and so no added wait.

The first query finds no call in flight and is embedded at once, alone. Queries that arrive while calls are
in flight (at most ``max_calls``) wait for one to end, then go together in the next call, up to the
embedder's batch size: under load a gateway or model server sees a few calls of many texts instead of one
call per query. A cheap embedder (:attr:`Embedder.cheap`) embeds short texts on the loop itself.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor

import numpy as np

from faro_workloads.core.embedding.base import Embedder
from faro_workloads.core.metrics import QUERY_EMBEDDING_BATCH

CHEAP_TEXT_CHARS = 4096
"""The longest text a cheap embedder embeds on the loop (longer ones go to a thread like any other)."""


class QueryEmbeddings:
    """Embeds query texts for callers on one event loop, batching those that wait at the same time."""

    def __init__(self, embedder: Embedder, executor: Executor | None = None, max_calls: int = 4) -> None:
        """``executor``: where model calls run (default: the loop's); ``max_calls``: model calls in flight
        at once."""
        self._embedder = embedder
        self._executor = executor
        self._max_calls = max_calls
        self._waiting: list[tuple[str, asyncio.Future[np.ndarray]]] = []
        self._calls = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def embedder(self) -> Embedder:
        return self._embedder

    async def embed(self, text: str) -> np.ndarray:
        """``text``'s vector."""
        if self._embedder.cheap and len(text) <= CHEAP_TEXT_CHARS:
            QUERY_EMBEDDING_BATCH.observe(1)
            return self._embedder.embed_one(text)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[np.ndarray] = loop.create_future()
        self._waiting.append((text, future))
        self._start_calls(loop)
        return await future

    def _start_calls(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start model calls for the waiting texts while fewer than ``max_calls`` are in flight."""
        while self._waiting and self._calls < self._max_calls:
            batch = self._waiting[: self._embedder.batch_size]
            del self._waiting[: len(batch)]
            batch = [(text, future) for text, future in batch if not future.done()]  # callers gone
            if not batch:
                continue
            self._calls += 1
            task = loop.create_task(self._call(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _call(self, batch: list[tuple[str, asyncio.Future[np.ndarray]]]) -> None:
        loop = asyncio.get_running_loop()
        texts = [text for text, _ in batch]
        try:
            QUERY_EMBEDDING_BATCH.observe(len(texts))
            vectors = await loop.run_in_executor(self._executor, self._embedder.embed, texts)
        except Exception as exc:  # every query of the batch fails as its own call would have
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
        else:
            for (_, future), vector in zip(batch, vectors, strict=True):
                if not future.done():
                    future.set_result(vector)
        finally:
            self._calls -= 1
            self._start_calls(loop)
