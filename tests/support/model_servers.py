"""A real OpenAI-compatible embeddings server on loopback for tests: the hashing model behind the same HTTP
server Faro serves MiniLM with, counting requests, recording every text it embedded, optionally slow."""

from __future__ import annotations

import asyncio
import threading
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from faro_workloads.background_server import BackgroundServer, free_port
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
