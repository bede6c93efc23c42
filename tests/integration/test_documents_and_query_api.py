"""The documents and query HTTP API over real stores: pgserver PostgreSQL + qdrant-client local mode."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from faro_workloads.contract.settings import ChunkingConfig, IngestConfig, QueryConfig
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore
from faro_workloads.data_plane import DataPlane

pytestmark = pytest.mark.integration

PlaneFactory = Callable[..., DataPlane]

GUIDE = """# Operations guide

## Outbox

The outbox keeps pending Qdrant writes in PostgreSQL until Qdrant acknowledges them.

## Dashboards

Grafana dashboards plot query latency for each store side by side.
"""


@pytest.fixture
def make_plane(pg_store_factory, qdrant_store_factory) -> Iterator[PlaneFactory]:
    """Builds DataPlanes over fresh stores; ``qdrant`` may be given to use a broken one."""
    planes: list[DataPlane] = []

    def build(qdrant: QdrantStore | None = None, **kwargs: object) -> DataPlane:
        pg: PgVectorStore = pg_store_factory(dimension=64)
        qdrant = qdrant or qdrant_store_factory(pg.collection)
        kwargs.setdefault("chunking", ChunkingConfig(strategy="markdown", size=64, overlap=8))
        plane = DataPlane(pg, qdrant, HashingEmbedder(dimension=64), **kwargs)  # type: ignore[arg-type]
        planes.append(plane)
        return plane

    yield build
    for plane in planes:
        plane.close()


@pytest.fixture
def plane(make_plane: PlaneFactory) -> DataPlane:
    return make_plane()


@pytest.fixture
def client(plane: DataPlane) -> Iterator[TestClient]:
    with TestClient(plane.api(), raise_server_exceptions=False) as http:
        yield http


def _post_text(client: TestClient, doc_id: str, text: str, **extra: object):  # type: ignore[no-untyped-def]
    return client.post("/v1/documents", json={"doc_id": doc_id, "text": text, **extra})


def test_json_upload_then_same_content_is_unchanged_and_new_content_replaces(
    client: TestClient, plane: DataPlane
) -> None:
    created = _post_text(client, "ops/guide", GUIDE, format="markdown", metadata={"team": "platform"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "created" and body["chunks"] >= 2
    assert plane.pg.count() == body["chunks"] == plane.qdrant.count()

    again = _post_text(client, "ops/guide", GUIDE, format="markdown", metadata={"team": "platform"})
    assert again.status_code == 200 and again.json()["status"] == "unchanged"

    replaced = _post_text(client, "ops/guide", "# Short\n\nOnly one chunk now.", format="markdown")
    assert replaced.status_code == 200 and replaced.json()["status"] == "replaced"
    assert plane.pg.count() == 1 == plane.qdrant.count()

    info = client.get("/v1/documents/ops/guide").json()
    assert info["chunks"] == 1 and info["content_hash"] == replaced.json()["content_hash"]


def test_multipart_upload_derives_the_id_from_the_file_name(client: TestClient) -> None:
    response = client.post(
        "/v1/documents",
        files={"file": ("guide.md", GUIDE.encode(), "text/markdown")},
        data={"metadata": '{"team": "platform"}'},
    )
    assert response.status_code == 201, response.text
    assert response.json()["doc_id"] == "guide.md"
    listed = client.get("/v1/documents").json()["documents"]
    assert [d["doc_id"] for d in listed] == ["guide.md"]
    assert listed[0]["metadata"] == {"team": "platform"}


def test_query_answers_from_qdrant_with_heading_metadata_and_filters(client: TestClient) -> None:
    _post_text(client, "ops/guide", GUIDE, format="markdown", metadata={"team": "platform"})
    _post_text(
        client, "other", "Unrelated text about cooking pasta with tomatoes.", metadata={"team": "food"}
    )

    answer = client.post("/v1/query", json={"query": "pending qdrant writes outbox", "top_k": 2}).json()
    assert answer["backend"] == "qdrant" and answer["fallback_reason"] is None
    top = answer["hits"][0]
    assert top["doc_id"] == "ops/guide" and "outbox" in top["text"].lower()
    assert top["metadata"]["headings"] == ["Operations guide", "Outbox"]

    filtered = client.post(
        "/v1/query", json={"query": "outbox", "top_k": 5, "filter": {"metadata": {"team": "food"}}}
    ).json()
    assert {hit["doc_id"] for hit in filtered["hits"]} == {"other"}

    from_pg = client.post("/v1/query", json={"query": "pending qdrant writes outbox", "backend": "postgres"})
    assert from_pg.json()["backend"] == "postgres"
    assert from_pg.json()["hits"][0]["id"] == top["id"]


def test_delete_removes_the_document_from_both_stores(client: TestClient, plane: DataPlane) -> None:
    _post_text(client, "gone", GUIDE, format="markdown")
    assert client.delete("/v1/documents/gone").status_code == 204
    assert plane.pg.count() == 0 and plane.qdrant.count() == 0
    deleted = client.get("/v1/documents/gone")
    assert deleted.status_code == 410 and deleted.json()["state"] == "deleted"
    assert client.delete("/v1/documents/gone").status_code == 404


def test_listing_refuses_a_query_parameter_it_does_not_take_or_one_given_twice(client: TestClient) -> None:
    _post_text(client, "guide", GUIDE, format="markdown")
    assert [d["doc_id"] for d in client.get("/v1/documents?limit=1").json()["documents"]] == ["guide"]
    typo = client.get("/v1/documents?limt=5")
    assert typo.status_code == 422
    assert typo.json()["detail"] == "unknown query parameter 'limt' (this call takes: after, limit)"
    twice = client.get("/v1/documents?limit=5&limit=10")
    assert (twice.status_code, twice.json()["detail"]) == (
        422,
        "query parameter 'limit' given more than once",
    )


@pytest.mark.parametrize(
    ("request_kwargs", "status", "message"),
    [
        ({"json": {"doc_id": "a", "text": ""}}, 422, "text"),
        ({"json": {"doc_id": "a", "text": "   \n  "}}, 422, "empty"),
        ({"json": {"doc_id": "../etc/passwd", "text": "x"}}, 422, "doc_id"),
        ({"json": {"doc_id": "a", "text": "x", "metadata": {"nested": {"a": 1}}}}, 422, "metadata"),
        ({"json": {"doc_id": "a", "text": "nul\x00byte"}}, 422, "NUL"),
        ({"json": {"doc_id": "a", "text": "x", "metadata": {"k": "nul\x00"}}}, 422, "metadata"),
        ({"content": b"plain body", "headers": {"content-type": "text/plain"}}, 415, "multipart"),
        ({"files": {"file": ("x.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png")}}, 422, "binary"),
        ({"files": {"file": ("latin.txt", b"caf\xe9 au lait", "text/plain")}}, 422, "UTF-8"),
        ({"files": {"file": ("e.txt", b"", "text/plain")}}, 422, "empty"),
        ({"data": {"doc_id": "a"}}, 415, "multipart"),
        ({"files": {"attachment": ("a.txt", b"text", "text/plain")}}, 422, "'file' part"),
    ],
)
def test_bad_documents_get_a_4xx_with_a_message_and_store_nothing(
    client: TestClient, plane: DataPlane, request_kwargs: dict, status: int, message: str
) -> None:
    reason = {415: "unsupported_media_type", 422: "invalid_document"}[status]
    counted_before = _ingest_errors(reason)
    response = client.post("/v1/documents", **request_kwargs)
    assert response.status_code == status, response.text
    assert message.lower() in str(response.json()["detail"]).lower()
    assert plane.pg.document_count() == 0
    assert _ingest_errors(reason) == counted_before + 1  # the dashboards' "documents rejected"


def _ingest_errors(reason: str) -> float:
    return REGISTRY.get_sample_value("faro_ingest_errors_total", {"reason": reason}) or 0.0


def test_body_over_the_limit_is_413(make_plane: PlaneFactory) -> None:
    plane = make_plane(ingest=IngestConfig(max_body_bytes=4096))
    with TestClient(plane.api()) as client:
        response = client.post("/v1/documents", json={"doc_id": "big", "text": "word " * 50_000})
        assert response.status_code == 413
        assert "limit" in response.json()["detail"]
        chunked = client.post(
            "/v1/documents",
            content=iter([b'{"doc_id": "big", "text": "', b"x" * 200_000, b'"}']),
            headers={"content-type": "application/json"},
        )
        assert chunked.status_code == 413
    assert plane.pg.document_count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {"query": "x", "top_k": 0},
        {"query": "x", "top_k": 10_000},
        {"query": "x" * 5000},
        {"query": ""},
        {"query": "   "},
        {"query": "x", "backend": "elastic"},
        {"query": "x", "filter": {"unknown": 1}},
        {"query": "x", "backend": "postgres", "filter": {"doc_ids": ["\x00"]}},  # found by fuzzing
        {"query": "x", "backend": "qdrant", "filter": {"metadata": {"a b": "x"}}},  # found by fuzzing
        {"query": "x", "filter": {"metadata": {"k": "nul\x00"}}},
    ],
)
def test_bad_queries_are_422(client: TestClient, body: dict) -> None:
    assert client.post("/v1/query", json=body).status_code == 422


def test_auto_falls_back_to_postgres_when_qdrant_is_unreachable_then_opens_the_circuit(
    make_plane: PlaneFactory, dead_qdrant_store: QdrantStore
) -> None:
    plane = make_plane(
        qdrant=dead_qdrant_store,
        query=QueryConfig(breaker_failures=2, breaker_reset_seconds=600, qdrant_timeout_seconds=5),
    )
    with TestClient(plane.api()) as client:
        stored = _post_text(client, "ops/guide", GUIDE, format="markdown")
        assert stored.status_code == 201  # Postgres committed; the outbox keeps the Qdrant work
        assert plane.pg.outbox_pending() == stored.json()["chunks"]
        reasons = []
        for _ in range(4):
            answer = client.post("/v1/query", json={"query": "outbox pending writes"}).json()
            assert answer["backend"] == "postgres"
            assert answer["hits"][0]["doc_id"] == "ops/guide"
            reasons.append(answer["fallback_reason"])
        assert reasons == ["error", "error", "circuit_open", "circuit_open"]
        explicit = client.post("/v1/query", json={"query": "outbox", "backend": "qdrant"})
        assert explicit.status_code == 503
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["checks"] == {"postgres": True, "qdrant": False}


def test_slow_qdrant_times_out_into_the_fallback(make_plane: PlaneFactory, qdrant_store_factory) -> None:
    """A Qdrant that answers after the timeout counts as failed for that query."""
    import threading

    release = threading.Event()

    class SlowQdrant(QdrantStore):
        def search(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            release.wait(5)
            return super().search(*args, **kwargs)

        def rank_both(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            release.wait(5)
            return super().rank_both(*args, **kwargs)

    plane = make_plane(query=QueryConfig(qdrant_timeout_seconds=0.2))
    slow = qdrant_store_factory(plane.pg.collection, store_class=SlowQdrant)
    plane_slow = make_plane(qdrant=slow, query=QueryConfig(qdrant_timeout_seconds=0.2))
    try:
        with TestClient(plane_slow.api()) as client:
            _post_text(client, "doc", "slow qdrant answers late")
            answer = client.post("/v1/query", json={"query": "slow qdrant"}).json()
    finally:
        release.set()
    assert answer["backend"] == "postgres" and answer["fallback_reason"] == "timeout"


def test_health_readiness_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"ready": True, "checks": {"postgres": True, "qdrant": True}}
    _post_text(client, "m", "metrics count this document")
    client.post("/v1/query", json={"query": "metrics"})
    metrics = client.get("/metrics").text
    for name in (
        "faro_documents_ingested_total",
        "faro_chunks_written_total",
        'faro_store_operation_seconds_bucket{backend="qdrant"',
        'faro_store_operation_seconds_bucket{backend="postgres"',
        'faro_queries_total{backend="qdrant"}',
        'faro_query_fallbacks_total{reason="circuit_open"}',  # every known label value exists from the start
        'faro_ingest_errors_total{reason="too_large"}',
        "faro_outbox_pending",
        "faro_embed_request_seconds_count",
    ):
        assert name in metrics, name
