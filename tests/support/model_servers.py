"""A real OpenAI-compatible embeddings server on loopback for tests: the hashing model behind the same HTTP
server Faro serves MiniLM with, counting requests, recording every text it embedded, optionally slow; and
one with a fixed latency per request (a remote model, for scaling measurements)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from faro_workloads.background_server import BackgroundServer, free_port
from faro_workloads.core.embedding.base import Embedder
from faro_workloads.core.embedding.model_server import build_model_server

from support.handbook import RecordingEmbedder


class RecordingModelServer:
    """``requests``: embeddings requests received; ``model.sent``: every text embedded, in order.

    ``hold_request``: that request (1-based) is held, not embedded, until ``release`` is set, then answered
    503 — a client killed meanwhile was never given, nor cost the model, that batch."""

    def __init__(
        self, dimension: int, model: str, delay_seconds: float = 0.0, hold_request: int | None = None
    ) -> None:
        self.requests = 0
        self.model = RecordingEmbedder(dimension=dimension, model=model)
        self.release = threading.Event()
        self._lock = threading.Lock()
        app = FastAPI()
        inner = build_model_server(self.model)

        @app.middleware("http")
        async def count(request: Request, call_next):  # type: ignore[no-untyped-def]
            if request.url.path.endswith("/embeddings"):
                with self._lock:
                    self.requests += 1
                    number = self.requests
                if number == hold_request:
                    await asyncio.to_thread(self.release.wait, 120)
                    return JSONResponse({"error": {"message": "held by the test"}}, status_code=503)
                if delay_seconds:
                    time.sleep(delay_seconds)  # blocks this server's loop: deliberately slow
            return await call_next(request)

        app.mount("/", inner)
        self.server = BackgroundServer(app, "127.0.0.1", free_port())

    @property
    def url(self) -> str:
        return f"{self.server.url}/v1"

    def __enter__(self) -> RecordingModelServer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.stop()


class ModelsServer:
    """One OpenAI-compatible host serving several models (as a provider's API does): a request goes to the
    model server of the model it names. ``models[name].sent``: every text that model embedded."""

    def __init__(self, dimension: int, names: list[str]) -> None:
        self.models = {name: RecordingEmbedder(dimension=dimension, model=name) for name in names}
        apps = {name: build_model_server(model) for name, model in self.models.items()}
        default = apps[names[0]]

        async def route(scope, receive, send):  # type: ignore[no-untyped-def]
            if scope["type"] != "http" or scope["method"] != "POST":
                return await default(scope, receive, send)
            body, more = b"", True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
            try:
                named = json.loads(body or b"{}").get("model")
            except ValueError:
                named = None
            replayed = False

            async def replay():  # type: ignore[no-untyped-def]
                nonlocal replayed
                if replayed:
                    return await receive()
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}

            return await apps.get(named, default)(scope, replay, send)

        self.server = BackgroundServer(route, "127.0.0.1", free_port())

    @property
    def url(self) -> str:
        """The OpenAI API root (a gateway's ``custom_host``)."""
        return f"{self.server.url}/v1"

    def __enter__(self) -> ModelsServer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


class DigestModel(Embedder):
    """Vectors from each text's digest: next to no CPU, so a server's latency is the model's whole cost."""

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        seeds = [int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little") for t in texts]
        return np.stack([np.random.default_rng(seed).standard_normal(self.dimension) for seed in seeds])


class FixedLatencyModelServer:
    """An OpenAI-compatible embeddings endpoint answering each request ``latency_seconds`` after it came
    (requests overlap, as a remote model's do), with :class:`DigestModel` vectors."""

    def __init__(self, dimension: int, model: str, latency_seconds: float) -> None:
        app = FastAPI()

        @app.middleware("http")
        async def latency(request: Request, call_next):  # type: ignore[no-untyped-def]
            if request.url.path.endswith("/embeddings") and latency_seconds:
                await asyncio.sleep(latency_seconds)
            return await call_next(request)

        app.mount("/", build_model_server(DigestModel(model, dimension, batch_size=2048)))
        self.server = BackgroundServer(app, "127.0.0.1", free_port())

    @property
    def url(self) -> str:
        return f"{self.server.url}/v1"

    def __enter__(self) -> FixedLatencyModelServer:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.stop()
