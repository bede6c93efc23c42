"""Query embeddings on the event loop: alone at one caller, shared by the callers that wait while model
calls are in flight, never more calls at once than allowed, failures to every caller of the failed call."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import numpy as np
import pytest

from faro_workloads.core.embedding.base import Embedder, EmbeddingError
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.embedding.query_batcher import QueryEmbeddings


class GatedEmbedder(Embedder):
    """A model whose calls wait for ``gate`` (when set up) and are recorded, texts and thread."""

    def __init__(self, batch_size: int = 64, fail: bool = False) -> None:
        super().__init__(model="gated", dimension=4, batch_size=batch_size)
        self.calls: list[list[str]] = []
        self.threads: set[str] = set()
        self.gate: threading.Event | None = None
        self.fail = fail
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    def _embed_batch(self, texts: list[str]) -> Sequence[Sequence[float]]:
        with self._lock:
            self.calls.append(texts)
            self.threads.add(threading.current_thread().name)
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.gate is not None:
                assert self.gate.wait(timeout=5)
            if self.fail:
                raise EmbeddingError("the gateway answered 502")
            return [[float(len(text)), 0.0, 0.0, 1.0] for text in texts]
        finally:
            with self._lock:
                self.in_flight -= 1


def test_one_caller_at_a_time_is_embedded_alone_and_at_once() -> None:
    embedder = GatedEmbedder()
    embeddings = QueryEmbeddings(embedder)

    async def main() -> list[np.ndarray]:
        return [await embeddings.embed(text) for text in ("a", "bb", "ccc")]

    vectors = asyncio.run(main())
    assert embedder.calls == [["a"], ["bb"], ["ccc"]]
    assert [vector[0] for vector in vectors] == [1.0, 2.0, 3.0]
    assert threading.current_thread().name not in embedder.threads  # the model call left the loop


def test_callers_that_wait_while_calls_are_in_flight_share_the_next_call() -> None:
    embedder = GatedEmbedder()
    embedder.gate = threading.Event()
    embeddings = QueryEmbeddings(embedder, max_calls=1)

    async def main() -> list[np.ndarray]:
        first = asyncio.create_task(embeddings.embed("first"))
        await asyncio.sleep(0.05)  # the first call is in flight, held by the gate
        rest = [asyncio.create_task(embeddings.embed("q" * n)) for n in range(1, 11)]
        await asyncio.sleep(0.05)
        embedder.gate.set()
        return [await first, *[await task for task in rest]]

    vectors = asyncio.run(main())
    assert embedder.calls == [["first"], ["q" * n for n in range(1, 11)]]
    assert [vector[0] for vector in vectors] == [5.0, *range(1, 11)]  # each caller its own vector


def test_no_more_calls_at_once_than_allowed_and_none_larger_than_a_batch() -> None:
    embedder = GatedEmbedder(batch_size=3)
    embedder.gate = threading.Event()
    embeddings = QueryEmbeddings(embedder, max_calls=2)

    async def main() -> None:
        tasks = [asyncio.create_task(embeddings.embed(f"text {n}")) for n in range(20)]
        await asyncio.sleep(0.1)
        assert embedder.in_flight == 2
        embedder.gate.set()
        await asyncio.gather(*tasks)

    asyncio.run(main())
    assert embedder.most_in_flight == 2
    assert max(len(call) for call in embedder.calls) == 3
    assert sorted(text for call in embedder.calls for text in call) == sorted(f"text {n}" for n in range(20))


def test_a_failed_call_fails_each_of_its_callers_and_the_next_call_goes_ahead() -> None:
    embedder = GatedEmbedder(fail=True)
    embeddings = QueryEmbeddings(embedder)

    async def main() -> None:
        results = await asyncio.gather(*(embeddings.embed(f"t{n}") for n in range(3)), return_exceptions=True)
        assert all(isinstance(result, EmbeddingError) for result in results)
        embedder.fail = False
        assert (await embeddings.embed("again"))[0] == 5.0

    asyncio.run(main())


def test_a_caller_that_stops_waiting_is_left_out_and_the_others_are_answered() -> None:
    embedder = GatedEmbedder()
    embedder.gate = threading.Event()
    embeddings = QueryEmbeddings(embedder, max_calls=1)

    async def main() -> np.ndarray:
        first = asyncio.create_task(embeddings.embed("first"))
        await asyncio.sleep(0.05)
        gone = asyncio.create_task(embeddings.embed("gone"))
        kept = asyncio.create_task(embeddings.embed("kept"))
        await asyncio.sleep(0.01)
        gone.cancel()
        embedder.gate.set()
        await first
        with pytest.raises(asyncio.CancelledError):
            await gone
        return await kept

    assert asyncio.run(main())[0] == 4.0
    assert embedder.calls == [["first"], ["kept"]]


def test_a_cheap_embedder_embeds_short_queries_on_the_loop() -> None:
    embedder = HashingEmbedder(dimension=8)
    embeddings = QueryEmbeddings(embedder)

    async def main() -> np.ndarray:
        return await embeddings.embed("where are documents kept")

    np.testing.assert_array_equal(asyncio.run(main()), embedder.embed_one("where are documents kept"))
