"""Embeddings over real HTTP: the portkey-ai SDK against Faro's OpenAI-compatible model server."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from faro_workloads.background_server import BackgroundServer, free_port
from faro_workloads.contract.settings import EmbeddingConfig
from faro_workloads.core.embedding import EmbeddingDimensionError, EmbeddingError, build_embedder
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.embedding.model_server import build_model_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hash_model_url() -> Iterator[str]:
    server = BackgroundServer(
        build_model_server(HashingEmbedder(dimension=32, model="hash-32")), "127.0.0.1", free_port()
    )
    server.start()
    yield f"{server.url}/v1"
    server.stop()


def _portkey(url: str, **overrides: object) -> EmbeddingConfig:
    base = {
        "kind": "portkey",
        "model": "hash-32",
        "dimension": 32,
        "batch_size": 4,
        "gateway_url": url,
        "api_key": SecretStr("test-key"),
        "max_attempts": 3,
        "timeout_seconds": 10,
    }
    return EmbeddingConfig.model_validate({**base, **overrides})


def test_portkey_sdk_returns_the_served_vectors_in_order(hash_model_url: str) -> None:
    texts = [f"document number {i} about pgvector" for i in range(10)]
    embedder = build_embedder(_portkey(hash_model_url))
    try:
        got = embedder.embed(texts)
    finally:
        embedder.close()
    expected = HashingEmbedder(dimension=32, model="hash-32").embed(texts)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)


def test_dimension_mismatch_with_the_collection_is_reported(hash_model_url: str) -> None:
    embedder = build_embedder(_portkey(hash_model_url, dimension=64))
    with pytest.raises(EmbeddingDimensionError, match="returned 32-d vectors"):
        embedder.embed(["x"])


def test_client_errors_fail_at_once_with_the_server_message(hash_model_url: str) -> None:
    embedder = build_embedder(_portkey(hash_model_url, model="no-such-model"))
    with pytest.raises(EmbeddingError, match=r"HTTP 404: .*no-such-model"):
        embedder.embed(["x"])


def test_unreachable_gateway_is_an_embedding_error() -> None:
    embedder = build_embedder(_portkey(f"http://127.0.0.1:{free_port()}/v1", max_attempts=2))
    with pytest.raises(EmbeddingError, match="unreachable after 2 attempts"):
        embedder.embed(["x"])


def test_transient_5xx_is_retried_until_it_succeeds() -> None:
    """A real server that fails twice with 503, then serves: tenacity's backoff carries the batch over."""
    served = HashingEmbedder(dimension=8, model="flaky")
    inner = build_model_server(served)
    calls = {"n": 0}
    lock = threading.Lock()
    app = FastAPI()

    @app.middleware("http")
    async def fail_twice(request, call_next):  # type: ignore[no-untyped-def]
        with lock:
            calls["n"] += 1
            n = calls["n"]
        if n <= 2:
            return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
        return await call_next(request)

    app.mount("/", inner)
    server = BackgroundServer(app, "127.0.0.1", free_port())
    server.start()
    try:
        embedder = build_embedder(_portkey(f"{server.url}/v1", model="flaky", dimension=8, max_attempts=4))
        vectors = embedder.embed(["a retried batch"])
    finally:
        server.stop()
    assert calls["n"] == 3
    np.testing.assert_allclose(vectors, served.embed(["a retried batch"]), rtol=1e-6)


def test_model_server_rejects_bad_requests_with_4xx(hash_model_url: str) -> None:
    import httpx

    with httpx.Client(base_url=hash_model_url.removesuffix("/v1")) as http:
        assert http.post("/v1/embeddings", json={"input": []}).status_code == 422
        assert http.post("/v1/embeddings", json={"input": "x", "dimensions": 3}).status_code == 422
        ok = http.post("/v1/embeddings", json={"input": "x", "encoding_format": "base64"})
        assert ok.status_code == 200
        raw = np.frombuffer(__import__("base64").b64decode(ok.json()["data"][0]["embedding"]), dtype="<f4")
        assert raw.shape == (32,)


@pytest.mark.minilm
def test_real_minilm_served_over_http_is_semantically_meaningful() -> None:
    from faro_workloads.core.embedding.minilm import MiniLMEmbedder

    model = MiniLMEmbedder()
    server = BackgroundServer(build_model_server(model), "127.0.0.1", free_port())
    server.start()
    try:
        config = EmbeddingConfig(
            kind="portkey",
            model="all-MiniLM-L6-v2",
            dimension=384,
            gateway_url=f"{server.url}/v1",
            api_key=SecretStr("local"),
        )
        embedder = build_embedder(config)
        query, near, far = embedder.embed(
            [
                "How do I keep two databases in sync?",
                "Replicating writes to both stores consistently with an outbox table.",
                "The recipe needs three eggs and a cup of flour.",
            ]
        )
    finally:
        server.stop()
    assert np.linalg.norm(query) == pytest.approx(1.0, rel=1e-4)
    assert float(query @ near) > float(query @ far) + 0.2
