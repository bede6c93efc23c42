"""An OpenAI-compatible ``/v1/embeddings`` server for a local embedder (MiniLM or hashing).

It lets a pipeline reach an offline model exactly the way it reaches a hosted one: through the Portkey SDK,
directly or via the Portkey gateway's ``custom_host``.
"""

from __future__ import annotations

import base64
from typing import Literal

import numpy as np
from fastapi import FastAPI, HTTPException
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from faro_workloads.core.embedding.base import Embedder

MAX_INPUTS = 2048
MAX_INPUT_CHARS = 100_000


class EmbeddingsRequest(BaseModel):
    input: str | list[str] = Field(..., description="One text or a list of texts.")
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None


def build_model_server(embedder: Embedder) -> FastAPI:
    """A FastAPI app serving ``embedder`` under the OpenAI embeddings API."""
    app = FastAPI(title=f"Faro model server ({embedder.model})", version="1")

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    def models() -> dict:
        return {"object": "list", "data": [{"id": embedder.model, "object": "model", "owned_by": "faro"}]}

    @app.post("/v1/embeddings")
    async def embeddings(request: EmbeddingsRequest) -> dict:
        texts = [request.input] if isinstance(request.input, str) else request.input
        if not texts or len(texts) > MAX_INPUTS:
            raise HTTPException(422, f"input must hold 1 to {MAX_INPUTS} texts")
        if any(len(text) > MAX_INPUT_CHARS for text in texts):
            raise HTTPException(422, f"each input text may have at most {MAX_INPUT_CHARS} characters")
        if request.model and request.model != embedder.model:
            raise HTTPException(404, f"model {request.model!r} is not served here; use {embedder.model!r}")
        if request.dimensions is not None and request.dimensions != embedder.dimension:
            raise HTTPException(422, f"model {embedder.model!r} only returns {embedder.dimension}-d vectors")
        vectors = await run_in_threadpool(embedder.embed, texts)
        data = [
            {"object": "embedding", "index": i, "embedding": _encode(vector, request.encoding_format)}
            for i, vector in enumerate(vectors)
        ]
        tokens = sum(len(text.split()) for text in texts)
        return {
            "object": "list",
            "data": data,
            "model": embedder.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    return app


def _encode(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.astype(float).tolist()
