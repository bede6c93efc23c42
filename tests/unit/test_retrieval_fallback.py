"""The retriever's choice of store, over fake searches: Qdrant first; PostgreSQL when Qdrant fails, is too
slow, or its circuit is open; a store asked for by name is the only one asked."""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
from prometheus_client import REGISTRY

from faro_workloads.contract.api import SearchMode
from faro_workloads.contract.settings import QueryConfig
from faro_workloads.core.documents import Neighbour, SearchHit, chunk_point_id
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.retrieval import Backend, Retriever

from support.fake_stores import FakeSearch

VECTOR = np.ones(8, dtype=np.float32)


def _hits(store: str) -> list[SearchHit]:
    return [
        SearchHit(uuid.uuid4(), 0.9 - seq / 10, f"{store}-doc", seq, f"{store} {seq}", {}) for seq in range(3)
    ]


@pytest.fixture
def stores() -> tuple[FakeSearch, FakeSearch]:
    """(postgres, qdrant), each answering with hits whose doc_id names the store."""
    return FakeSearch(_hits("postgres")), FakeSearch(_hits("qdrant"))


def _retriever(
    pg: FakeSearch, qdrant: FakeSearch, timeout: float = 1.0, failures: int = 3, reset: float = 30.0
) -> Retriever:
    config = QueryConfig(
        qdrant_timeout_seconds=timeout,
        breaker_failures=failures,
        breaker_reset_seconds=reset,
        default_mode=SearchMode.DENSE,  # which store answers is the point here; hybrid: test_fusion.py
        max_chunks_per_document=0,  # the fake hits are one document's
    )
    return Retriever.over(HashingEmbedder(dimension=VECTOR.size), pg, qdrant, config)


def _fallbacks(reason: str) -> float:
    return REGISTRY.get_sample_value("faro_query_fallbacks_total", {"reason": reason}) or 0.0


def test_a_healthy_qdrant_answers_and_postgres_is_not_asked(stores: tuple[FakeSearch, FakeSearch]) -> None:
    pg, qdrant = stores
    retriever = _retriever(pg, qdrant)

    result = retriever.query("where are documents kept", 2, None, Backend.AUTO)

    assert (result.backend, result.fallback_reason) == (Backend.QDRANT, None)
    assert result.hits == qdrant.hits[:2]
    assert (pg.calls, qdrant.calls) == (0, 1)


def test_a_failing_qdrant_falls_back_to_postgres(stores: tuple[FakeSearch, FakeSearch]) -> None:
    pg, qdrant = stores
    qdrant.failure = ConnectionError("connection refused")
    before = _fallbacks("error")

    result = _retriever(pg, qdrant).query_vector(VECTOR, 3, None, Backend.AUTO)

    assert (result.backend, result.fallback_reason) == (Backend.POSTGRES, "error")
    assert result.hits == pg.hits
    assert _fallbacks("error") == before + 1


def test_a_slow_qdrant_is_given_up_after_the_timeout(stores: tuple[FakeSearch, FakeSearch]) -> None:
    pg, qdrant = stores
    qdrant.delay = 2.0
    retriever = _retriever(pg, qdrant, timeout=0.05)

    started = time.perf_counter()
    result = retriever.query_vector(VECTOR, 3, None, Backend.AUTO)

    assert (result.backend, result.fallback_reason) == (Backend.POSTGRES, "timeout")
    assert result.hits == pg.hits
    assert time.perf_counter() - started < 1.0  # the answer did not wait for Qdrant
    retriever.close()


def test_after_enough_failures_the_circuit_opens_and_qdrant_is_left_alone_until_the_reset(
    stores: tuple[FakeSearch, FakeSearch],
) -> None:
    pg, qdrant = stores
    qdrant.failure = ConnectionError("connection refused")
    retriever = _retriever(pg, qdrant, failures=2, reset=0.2)

    reasons = [retriever.query_vector(VECTOR, 3, None, Backend.AUTO).fallback_reason for _ in range(4)]

    assert reasons == ["error", "error", "circuit_open", "circuit_open"]
    assert qdrant.calls == 2  # the open circuit answered from Postgres without asking Qdrant
    assert REGISTRY.get_sample_value("faro_query_qdrant_circuit_open") == 1

    qdrant.failure = None
    time.sleep(0.25)  # past the reset: one trial query goes to Qdrant, and closes the circuit
    result = retriever.query_vector(VECTOR, 3, None, Backend.AUTO)
    assert (result.backend, result.fallback_reason, qdrant.calls) == (Backend.QDRANT, None, 3)
    assert REGISTRY.get_sample_value("faro_query_qdrant_circuit_open") == 0


def test_a_store_named_by_the_caller_is_the_only_one_asked(stores: tuple[FakeSearch, FakeSearch]) -> None:
    pg, qdrant = stores
    qdrant.failure = ConnectionError("connection refused")
    retriever = _retriever(pg, qdrant)

    from_postgres = retriever.query_vector(VECTOR, 3, None, Backend.POSTGRES)
    assert (from_postgres.backend, from_postgres.fallback_reason, qdrant.calls) == (Backend.POSTGRES, None, 0)

    with pytest.raises(ConnectionError):  # no fallback when Qdrant itself was asked for
        retriever.query_vector(VECTOR, 3, None, Backend.QDRANT)
    assert pg.calls == 1


def test_neighbours_come_from_the_store_that_answered() -> None:
    def document(store: str) -> list[SearchHit]:
        return [
            SearchHit(chunk_point_id("guide", seq), 1.0 - seq / 10, "guide", seq, f"{store} {seq}", {})
            for seq in range(5)
        ]

    pg, qdrant = FakeSearch(document("postgres")), FakeSearch(document("qdrant"))
    qdrant.hits = (
        qdrant.hits[2:3] + qdrant.hits
    )  # the best hit is chunk 2; its neighbours exist on both sides
    retriever = _retriever(pg, qdrant)

    best = retriever.query("guide", 1, neighbours=2).hits[0]
    assert best.seq == 2
    assert best.neighbours == tuple(Neighbour(seq, f"qdrant {seq}") for seq in (0, 1, 3, 4))
    first = retriever.query("guide", 1, backend=Backend.POSTGRES, neighbours=1).hits[0]
    assert (first.seq, first.neighbours) == (0, (Neighbour(1, "postgres 1"),))  # nothing before the first

    qdrant.failure = ConnectionError("connection refused")
    fallback = retriever.query("guide", 1, neighbours=1)
    assert fallback.backend is Backend.POSTGRES
    assert fallback.hits[0].neighbours == (Neighbour(1, "postgres 1"),)
