"""What each service's ``build`` wires, with its stores, model and AWS clients replaced by in-memory fakes:
the embedding engine builds no retriever (nor its query thread pool), the query service no outbox drainer,
and each closes what it opened in reverse order."""

from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from faro_workloads.contract.settings import CollectionConfig, FaroSettings, S3Config, SQSConfig
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.retrieval import Retriever
from faro_workloads.core.stores.ports import AsyncChunkSearch
from faro_workloads.services import embedder as embedder_service
from faro_workloads.services import query as query_service
from faro_workloads.services.stores import Stores

from support.fake_stores import FakePostgres, FakeQdrant, threaded

DIMENSION = 16


class ClosingStore:
    """Mixed into a fake store: answers readiness with ``reachable`` and writes ``name`` into ``closed``."""

    name = ""
    reachable = True

    def __init__(self, closed: list[str]) -> None:
        super().__init__()
        self._closed = closed

    def healthy(self) -> bool:
        return self.reachable

    def close(self) -> None:
        self._closed.append(self.name)

    def async_search(self) -> AsyncChunkSearch:
        return threaded(self)  # type: ignore[arg-type] - only the PostgreSQL one is searched here


class ClosingPostgres(ClosingStore, FakePostgres):
    name = "postgres"

    def search(self, vector: object, k: int, flt: object = None) -> list[object]:
        return []  # an empty collection: what matters here is who answers and what is closed

    def search_lexical(self, query: object, k: int, flt: object = None) -> list[object]:
        return []

    def rank_both(self, vector: object, query: object, k: int, flt: object = None) -> tuple[list, list]:
        return [], []

    def ranked_hits(self, ranking: object) -> list:
        return []

    def chunk_texts(self, ids: object) -> dict:
        return {}


class ClosingQdrant(ClosingStore, FakeQdrant):
    name, reachable = "qdrant", False


class ClosingEmbedder(HashingEmbedder):
    def __init__(self, closed: list[str]) -> None:
        super().__init__(dimension=DIMENSION)
        self._closed = closed

    def close(self) -> None:
        self._closed.append("embedder")


class FakeSQS:
    def get_queue_attributes(self, **kwargs: object) -> dict[str, object]:
        return {"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:0:faro"}}


class FakeS3:
    def head_bucket(self, Bucket: str) -> None:  # noqa: N803 - boto3's spelling
        return None


@pytest.fixture
def closed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What the services under test closed, in order; their stores, model and clients are fakes."""
    closed: list[str] = []

    def fake_stores(*args: object) -> Stores:
        return Stores(ClosingPostgres(closed), ClosingQdrant(closed))  # type: ignore[arg-type]

    for module in (embedder_service, query_service):
        monkeypatch.setattr(module, "open_stores", fake_stores)
        monkeypatch.setattr(module, "build_embedder", lambda config: ClosingEmbedder(closed))
    monkeypatch.setattr(embedder_service, "sqs_client", lambda config: FakeSQS())
    monkeypatch.setattr(embedder_service, "s3_client", lambda config: FakeS3())
    return closed


def settings() -> FaroSettings:
    return FaroSettings(
        collection=CollectionConfig(name="docs", dimension=DIMENSION),
        embedding={"dimension": DIMENSION},  # type: ignore[arg-type]
        s3=S3Config(bucket="faro-chunks"),
        sqs=SQSConfig(queue_url="https://sqs.test/faro"),
    )


def drainer_threads() -> int:
    return sum(thread.name == "outbox-drainer" for thread in threading.enumerate())


def test_the_embedding_engine_builds_no_retriever(closed: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def no_retriever(*args: object, **kwargs: object) -> None:
        raise AssertionError("the embedding engine answers no queries: it must not build a Retriever")

    monkeypatch.setattr(Retriever, "__init__", no_retriever)
    drainers = drainer_threads()

    with embedder_service.build(settings()) as service:
        assert drainer_threads() == drainers + 1
        assert not hasattr(service, "retriever")
        with TestClient(service.health_app) as health:
            ready = health.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"] == {"postgres": True, "sqs": True, "qdrant": False, "s3": True}

    assert closed == ["embedder", "qdrant", "postgres"]
    assert drainer_threads() == drainers


def test_the_embedding_engine_needs_its_queue_before_opening_anything(closed: list[str]) -> None:
    with pytest.raises(ValueError, match=r"missing configuration: sqs \(set FARO_SQS__...\)"):
        embedder_service.build(settings().model_copy(update={"sqs": None}))

    assert closed == []


def test_the_query_service_closes_retriever_embedder_then_stores(
    closed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    original_close = Retriever.close

    def recorded_close(self: Retriever) -> None:
        closed.append("retriever")
        original_close(self)

    monkeypatch.setattr(Retriever, "close", recorded_close)

    drainers = drainer_threads()
    with query_service.build(settings()) as service:
        assert drainer_threads() == drainers
        with TestClient(service.app) as client:
            assert client.get("/readyz").json()["checks"] == {"postgres": True, "qdrant": False}
            answer = client.post("/v1/query", json={"query": "anything", "backend": "postgres"})
            assert answer.status_code == 200 and answer.json()["generation"] == 1

    assert closed == ["retriever", "embedder", "qdrant", "postgres"]


def test_a_query_service_whose_build_fails_closes_what_it_opened(
    closed: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_app(*args: object) -> None:
        raise RuntimeError("no app today")

    monkeypatch.setattr(query_service, "build_query_app", broken_app)

    with pytest.raises(RuntimeError, match="no app today"):
        query_service.build(settings())

    assert closed == ["embedder", "qdrant", "postgres"]
