"""Embeddings through the real Portkey AI gateway (npm ``@portkey-ai/gateway``) to real local model servers.

Every model endpoint is Faro's model server over a :class:`HashingEmbedder` on its own port, so the expected
vectors are known exactly; a scripted middleware in front of it can answer 503 for a number of requests, and
it records every request it receives, so the tests see what the gateway really sent where.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi import Request, Response
from fastapi.responses import JSONResponse
from pydantic import SecretStr, ValidationError

from faro_workloads.background_server import BackgroundServer, free_port
from faro_workloads.contract.embedding_settings import EmbeddingConfig, GatewayTarget
from faro_workloads.core.embedding import EmbeddingError, build_embedder
from faro_workloads.core.embedding.gateway_config import build_gateway_config
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.embedding.model_server import build_model_server

pytestmark = pytest.mark.integration

MODEL = "hash-24"
DIMENSION = 24
BATCH_SIZE = 16
TEXTS = [f"chunk {i} of the gateway manual, about fallback and retries number {i % 7}" for i in range(40)]
BATCHES = 3  # 40 texts, 16 per request


def expected(texts: list[str], model: str = MODEL) -> np.ndarray:
    return HashingEmbedder(dimension=DIMENSION, model=model).embed(texts)


class ModelServer:
    """A running model server that records the path of every request and can fail the first ones with 503.

    ``fail_first`` requests (all of them when None) get ``503 {"error": {"message": "overloaded"}}``.
    """

    def __init__(self, model: str = MODEL, fail_first: int | None = 0) -> None:
        app = build_model_server(HashingEmbedder(dimension=DIMENSION, model=model))
        self.paths: list[str] = []
        self._lock = threading.Lock()

        @app.middleware("http")
        async def script(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            with self._lock:
                self.paths.append(request.url.path)
                failing = fail_first is None or len(self.paths) <= fail_first
            if failing:
                return JSONResponse({"error": {"message": "overloaded"}}, status_code=503)
            return await call_next(request)

        self._server = BackgroundServer(app, "127.0.0.1", free_port())
        self.url = self._server.url
        self._server.start()

    @property
    def openai_host(self) -> str:
        """custom_host of the gateway's openai provider: the OpenAI-compatible API root."""
        return f"{self.url}/v1"

    def stop(self) -> None:
        self._server.stop()


@pytest.fixture
def model_server() -> Iterator[Callable[..., ModelServer]]:
    """Factory of :class:`ModelServer` objects, all stopped after the test."""
    servers: list[ModelServer] = []

    def start(model: str = MODEL, fail_first: int | None = 0) -> ModelServer:
        servers.append(ModelServer(model, fail_first))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def gateway_config(gateway: str, **overrides: object) -> EmbeddingConfig:
    """A portkey embedding config through ``gateway``; the client itself makes one attempt per batch."""
    settings = {
        "kind": "portkey",
        "model": MODEL,
        "dimension": DIMENSION,
        "batch_size": BATCH_SIZE,
        "gateway_url": f"{gateway}/v1",
        "api_key": SecretStr("primary-key"),
        "max_attempts": 1,
        "timeout_seconds": 15,
    }
    return EmbeddingConfig.model_validate({**settings, **overrides})


def embed(config: EmbeddingConfig, texts: list[str]) -> np.ndarray:
    embedder = build_embedder(config)
    try:
        return embedder.embed(texts)
    finally:
        embedder.close()


def test_gateway_listens_on_loopback_only(portkey_gateway: str) -> None:
    port = int(portkey_gateway.rsplit(":", 1)[1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            pytest.skip("needs Linux /proc/net/tcp")
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                listening.append(address)
    assert listening == ["0100007F"]  # 127.0.0.1, little-endian hex; nothing on 0.0.0.0 or ::


def test_openai_provider_through_the_gateway_returns_the_served_vectors(
    portkey_gateway: str, model_server: Callable[..., ModelServer]
) -> None:
    server = model_server()
    config = gateway_config(portkey_gateway, provider="openai", custom_host=server.openai_host)
    assert build_gateway_config(config) is None  # plain provider headers, no gateway config

    got = embed(config, TEXTS)

    np.testing.assert_allclose(got, expected(TEXTS), rtol=1e-6, atol=1e-7)
    assert server.paths == ["/v1/embeddings"] * BATCHES


def test_cohere_provider_through_the_gateway_returns_the_same_vectors(
    portkey_gateway: str, model_server: Callable[..., ModelServer]
) -> None:
    server = model_server()
    config = gateway_config(portkey_gateway, provider="cohere", custom_host=server.url)

    got = embed(config, TEXTS)

    np.testing.assert_allclose(got, expected(TEXTS), rtol=1e-6, atol=1e-7)
    assert server.paths == ["/v2/embed"] * BATCHES  # Cohere's embed API, input_type and all


def test_failing_primary_falls_back_to_the_next_target(
    portkey_gateway: str, model_server: Callable[..., ModelServer]
) -> None:
    """The primary always answers 503; the fallback is a cohere endpoint serving another model name."""
    primary = model_server(fail_first=None)
    fallback = model_server(model="hash-fallback")
    config = gateway_config(
        portkey_gateway,
        custom_host=primary.openai_host,
        fallback_targets=[
            GatewayTarget(
                provider="cohere", custom_host=fallback.url, api_key=SecretStr("k"), model="hash-fallback"
            )
        ],
    )

    got = embed(config, TEXTS)

    np.testing.assert_allclose(got, expected(TEXTS, model="hash-fallback"), rtol=1e-6, atol=1e-7)
    assert primary.paths == ["/v1/embeddings"] * BATCHES
    assert fallback.paths == ["/v2/embed"] * BATCHES


def test_gateway_retries_a_target_before_falling_back(
    portkey_gateway: str, model_server: Callable[..., ModelServer]
) -> None:
    """Two 503s, then success: the gateway's own retries (1 s, then 2 s apart) carry the batch over."""
    flaky = model_server(fail_first=2)
    fallback = model_server()
    config = gateway_config(
        portkey_gateway,
        custom_host=flaky.openai_host,
        fallback_targets=[GatewayTarget(custom_host=fallback.openai_host)],
        gateway_retry_attempts=2,
        gateway_retry_on_status=[503],
    )
    texts = TEXTS[:BATCH_SIZE]

    got = embed(config, texts)

    np.testing.assert_allclose(got, expected(texts), rtol=1e-6, atol=1e-7)
    assert flaky.paths == ["/v1/embeddings"] * 3
    assert fallback.paths == []


def test_unreachable_primary_falls_back_because_the_gateway_answers_500(
    portkey_gateway: str, model_server: Callable[..., ModelServer]
) -> None:
    """A refused connection becomes a gateway 500: with 500 in fallback_on_status the next target serves;
    without it the client gets that 500 (naming ECONNREFUSED) and the fallback is never asked."""
    dead_host = f"http://127.0.0.1:{free_port()}/v1"
    fallback = model_server()
    route = {"custom_host": dead_host, "fallback_targets": [GatewayTarget(custom_host=fallback.openai_host)]}

    got = embed(gateway_config(portkey_gateway, **route), TEXTS[:4])

    np.testing.assert_allclose(got, expected(TEXTS[:4]), rtol=1e-6, atol=1e-7)
    assert fallback.paths == ["/v1/embeddings"]

    with pytest.raises(EmbeddingError, match=r"HTTP 500 .*ECONNREFUSED"):
        embed(gateway_config(portkey_gateway, **route, fallback_on_status=[503]), TEXTS[:4])
    assert fallback.paths == ["/v1/embeddings"]


@pytest.mark.parametrize("provider", ["openai", "cohere"])
def test_model_client_error_fails_at_once_without_retry_or_fallback(
    portkey_gateway: str, model_server: Callable[..., ModelServer], provider: str
) -> None:
    """An unknown model is a 404 from the model server: not retried by the gateway nor the client, no
    fallback, and the server's own message in the error."""
    primary = model_server()
    fallback = model_server()
    config = gateway_config(
        portkey_gateway,
        model="no-such-model",
        provider=provider,
        custom_host=primary.openai_host if provider == "openai" else primary.url,
        fallback_targets=[GatewayTarget(custom_host=fallback.openai_host, model=MODEL)],
        gateway_retry_attempts=3,
        max_attempts=3,
    )

    with pytest.raises(EmbeddingError) as failure:
        embed(config, ["one text"])

    said_by = "cohere error: " if provider == "cohere" else ""  # the gateway's cohere provider adds this
    assert str(failure.value) == (
        f"embeddings request to {portkey_gateway}/v1 failed with HTTP 404 "
        f"(gateway target config.targets[0]): {said_by}model 'no-such-model' is not served here; "
        f"use '{MODEL}'"
    )
    assert len(primary.paths) == 1
    assert fallback.paths == []


def test_built_gateway_config_uses_the_gateway_schema() -> None:
    config = gateway_config(
        "http://gw:8787",
        custom_host="http://primary:8000/v1/",
        fallback_targets=[
            GatewayTarget(provider="cohere", custom_host="http://backup:9000", model="embed-v4.0"),
        ],
        fallback_on_status=[429, 503],
        gateway_retry_attempts=2,
        gateway_retry_on_status=[503],
    )

    assert build_gateway_config(config) == {
        "strategy": {"mode": "fallback", "on_status_codes": [429, 503]},
        "targets": [
            {"provider": "openai", "api_key": "primary-key", "custom_host": "http://primary:8000/v1"},
            {
                "provider": "cohere",
                "api_key": "",
                "custom_host": "http://backup:9000",
                "override_params": {"model": "embed-v4.0"},
            },
        ],
        "retry": {"attempts": 2, "on_status_codes": [503]},
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"custom_host": "http://model:8000"}, "custom_host must end in /v1"),
        ({"provider": "cohere", "custom_host": "http://m:8000/v1"}, "cohere custom_host is the server root"),
        ({"fallback_targets": [{"custom_host": "model:8000/v1"}]}, "fallback target: custom_host must be"),
        ({"fallback_on_status": [200, 503]}, r"fallback_on_status may only hold .*400-599.* \[200\]"),
        ({"gateway_retry_attempts": 4, "timeout_seconds": 15}, r"timeout_seconds \(15\) must exceed .* 15 s"),
    ],
)
def test_config_rejects_routes_the_gateway_cannot_take(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        gateway_config("http://gw:8787", **overrides)
