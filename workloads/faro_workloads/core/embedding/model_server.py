"""An OpenAI- and Cohere-compatible embeddings server for a local embedder (MiniLM or hashing).

It lets a pipeline reach an offline model exactly the way it reaches a hosted one: through the Portkey SDK,
directly or via the Portkey gateway's ``custom_host``. ``POST /v1/embeddings`` speaks OpenAI's embeddings
API; ``POST /v2/embed`` speaks Cohere's v2 embed API, where the gateway's cohere provider sends requests
(``custom_host`` + ``/v2/embed``).
"""

from __future__ import annotations

import base64
import uuid
from typing import Literal

import numpy as np
from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from faro_workloads.core.embedding.base import Embedder

MAX_INPUTS = 2048
MAX_INPUT_CHARS = 100_000


class EmbeddingsRequest(BaseModel):
    input: str | list[str] = Field(..., description="One text or a list of texts.")
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None


class CohereEmbedRequest(BaseModel):
    """Cohere's v2 embed request, the body the Portkey gateway's cohere provider sends."""

    model: str = Field(..., description="Model name (required by Cohere).")
    texts: list[str] | None = Field(None, description="The texts to embed.")
    images: list[str] | None = Field(None, description="Images (data URIs); not served here.")
    input_type: Literal["search_document", "search_query", "classification", "clustering", "image"]
    embedding_types: list[str] = Field(default_factory=lambda: ["float"], description="Only float here.")
    truncate: Literal["NONE", "START", "END"] | None = None
    output_dimension: int | None = None


def build_model_server(embedder: Embedder) -> FastAPI:
    """A FastAPI app serving ``embedder`` under OpenAI's embeddings API and Cohere's v2 embed API."""
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

    @app.post("/v2/embed")
    async def cohere_embed(request: Request) -> JSONResponse:
        """Cohere's embed: ``{"embeddings": {"float": [...]}, ...}``; errors are ``{"message": ...}``.

        The body is parsed here rather than by FastAPI so that even malformed requests get Cohere's error
        shape, and the answer is a ready JSONResponse (FastAPI's generic encoder is slow on large vectors).
        """
        try:
            body = CohereEmbedRequest.model_validate(await request.json())
        except ValueError as exc:  # ValidationError, or a body that is not JSON
            return _cohere_error(400, _validation_text(exc))
        texts = body.texts or []
        if body.images:
            return _cohere_error(400, "images are not served here; send texts")
        if not texts or len(texts) > MAX_INPUTS:
            return _cohere_error(400, f"texts must hold 1 to {MAX_INPUTS} texts")
        if any(len(text) > MAX_INPUT_CHARS for text in texts):
            return _cohere_error(400, f"each text may have at most {MAX_INPUT_CHARS} characters")
        if body.model != embedder.model:
            return _cohere_error(404, f"model {body.model!r} is not served here; use {embedder.model!r}")
        if set(body.embedding_types) != {"float"}:
            return _cohere_error(400, f"only the float embedding type is served, got {body.embedding_types}")
        if body.output_dimension is not None and body.output_dimension != embedder.dimension:
            return _cohere_error(400, f"model {embedder.model!r} only returns {embedder.dimension}-d vectors")
        vectors = await run_in_threadpool(embedder.embed, texts)
        tokens = sum(len(text.split()) for text in texts)
        return JSONResponse(
            {
                "id": str(uuid.uuid4()),
                "response_type": "embeddings_by_type",
                "embeddings": {"float": vectors.astype(float).tolist()},
                "texts": texts,
                "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
            }
        )

    return app


def _cohere_error(status: int, message: str) -> JSONResponse:
    """An error the way Cohere sends it (and the gateway's cohere provider reads it)."""
    return JSONResponse({"message": message}, status_code=status)


def _validation_text(exc: ValueError) -> str:
    """One line per problem of a request body that does not fit :class:`CohereEmbedRequest`."""
    if isinstance(exc, ValidationError):
        problems = (f"{'.'.join(map(str, error['loc'])) or 'body'}: {error['msg']}" for error in exc.errors())
        return "; ".join(problems)
    return f"the body is not valid JSON: {exc}"


def _encode(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.astype(float).tolist()
