"""The query path's circuit breaker: pybreaker's rules (open after N consecutive failures, one trial after
the reset time), without holding a lock during the call, so concurrent queries run together."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from faro_workloads.contract.api import SearchMode
from faro_workloads.contract.settings import QueryConfig
from faro_workloads.core.circuit_breaker import CircuitBreaker, CircuitOpen, CircuitState
from faro_workloads.core.documents import SearchHit
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.retrieval import Backend, Retriever
from faro_workloads.core.search_filter import SearchFilter

from support.fake_stores import FakeSearch


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _fail(breaker: CircuitBreaker) -> None:
    with pytest.raises(ConnectionError), breaker.calling():
        raise ConnectionError("down")


def _succeed(breaker: CircuitBreaker) -> None:
    with breaker.calling():
        pass


def test_consecutive_failures_open_it_and_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(3, 30.0, Clock())
    _fail(breaker)
    _fail(breaker)
    _succeed(breaker)
    _fail(breaker)
    _fail(breaker)
    assert breaker.state is CircuitState.CLOSED
    _fail(breaker)
    assert breaker.state is CircuitState.OPEN
    ran = []
    with pytest.raises(CircuitOpen), breaker.calling():
        ran.append(1)
    assert ran == []  # an open circuit does not make the call


def test_after_the_reset_time_one_trial_goes_and_decides() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 30.0, clock)
    _fail(breaker)
    clock.now = 29.0
    assert breaker.state is CircuitState.OPEN
    clock.now = 30.0
    assert breaker.state is CircuitState.HALF_OPEN
    # While the trial runs (the outer call), no other call goes.
    with breaker.calling(), pytest.raises(CircuitOpen), breaker.calling():
        pass
    assert breaker.state is CircuitState.CLOSED  # it succeeded
    _fail(breaker)
    clock.now = 61.0
    _fail(breaker)  # a failed trial opens it for another reset time
    assert breaker.state is CircuitState.OPEN
    clock.now = 90.0
    assert breaker.state is CircuitState.OPEN
    clock.now = 91.0
    assert breaker.state is CircuitState.HALF_OPEN


def test_it_says_when_it_opens_and_when_it_closes_again() -> None:
    clock, changes = Clock(), []
    breaker = CircuitBreaker(2, 30.0, clock, on_change=changes.append)
    _fail(breaker)
    assert changes == []
    _fail(breaker)
    assert changes == [True]
    clock.now = 30.0
    _fail(breaker)  # a failed trial: still open, nothing new to say
    clock.now = 60.0
    _succeed(breaker)
    assert changes == [True, False]
    _succeed(breaker)
    assert changes == [True, False]


def test_calls_run_concurrently() -> None:
    """Four calls are inside the breaker at the same time (a lock held during the call would leave the
    barrier waiting for them, and fail)."""
    breaker = CircuitBreaker(3, 30.0)
    barrier = threading.Barrier(4, timeout=5)

    def call() -> None:
        with breaker.calling():
            barrier.wait()

    with ThreadPoolExecutor(4) as pool:
        for future in [pool.submit(call) for _ in range(4)]:
            future.result()
    assert breaker.state is CircuitState.CLOSED


class MeetingQdrant(FakeSearch):
    """A Qdrant whose searches answer only once ``parties`` of them are in flight together."""

    def __init__(self, hits: list[SearchHit], parties: int) -> None:
        super().__init__(hits)
        self.barrier = threading.Barrier(parties, timeout=5)

    def search(self, vector: np.ndarray, k: int, flt: SearchFilter | None = None) -> list[SearchHit]:
        self.barrier.wait()
        return super().search(vector, k, flt)


def test_concurrent_queries_reach_qdrant_together_through_the_retriever() -> None:
    hit = SearchHit(uuid.uuid4(), 0.9, "doc", 0, "text", {})
    qdrant = MeetingQdrant([hit], parties=4)
    config = QueryConfig(default_mode=SearchMode.DENSE, qdrant_timeout_seconds=10)
    retriever = Retriever.over(HashingEmbedder(dimension=8), FakeSearch([]), qdrant, config)
    try:
        with ThreadPoolExecutor(4) as pool:
            answers = list(
                pool.map(lambda n: retriever.query(f"question {n}", 1, None, Backend.AUTO), range(4))
            )
    finally:
        retriever.close()
    assert [(answer.backend, answer.fallback_reason) for answer in answers] == [(Backend.QDRANT, None)] * 4
