"""``/v1/query``: semantic search over the collection, Qdrant first with pgvector fallback.

No ``from __future__ import annotations`` here: the request model is built per router from the configured
limits, and FastAPI must see its real class, not a string, in the endpoint signature.
"""

import math
import re
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt

from faro_workloads.api.errors import error_responses
from faro_workloads.api.json_response import FastJSONResponse
from faro_workloads.api.strict_json import StrictJsonRoute
from faro_workloads.api.tenancy import held_tenant, tenant_filter
from faro_workloads.contract.api import SearchMode
from faro_workloads.contract.settings import QueryConfig
from faro_workloads.core.metrics import (
    FALLBACK_REASONS,
    QUERIES,
    QUERY_BACKENDS,
    QUERY_FALLBACKS,
    QUERY_MODES,
    expose_label_values,
)
from faro_workloads.core.retrieval import MAX_NEIGHBOURS, Answerer, Backend, QueryResult, Question
from faro_workloads.core.search_filter import SearchFilter, whole_float_as_int


class NeighbourChunk(BaseModel):
    seq: int
    text: str


class QueryHit(BaseModel):
    id: str
    score: float
    doc_id: str
    seq: int
    text: str
    metadata: dict[str, Any]
    model: str = Field(..., description="The model that embedded the chunk.")
    neighbours: list[NeighbourChunk] = Field(
        default_factory=list,
        description="The chunks around this one in its document, in order (when the query asked for them).",
    )


class QueryResponse(BaseModel):
    backend: Backend = Field(..., description="The store that answered.")
    mode: SearchMode = Field(
        ..., description="How the chunks were found (dense when the index has no lexical terms yet)."
    )
    fallback_reason: str | None = Field(None, description="Why Qdrant was not used, when backend was auto.")
    generation: int | None = Field(None, description="The index generation that answered.")
    took_ms: float
    hits: list[QueryHit]


def _finite(value: float) -> float | None:
    """JSON has no NaN or infinity; like pydantic, send null."""
    return value if math.isfinite(value) else None


def response_body(result: QueryResult) -> dict[str, Any]:
    """``result`` as :class:`QueryResponse` JSON, built directly: the hits come from our stores, well-typed,
    so validating them again through the models (twice, with FastAPI's response_model check) is pure cost."""
    return {
        "backend": result.backend.value,
        "mode": result.mode.value,
        "fallback_reason": result.fallback_reason,
        "generation": result.generation,
        "took_ms": round(result.seconds * 1000, 3),
        "hits": [
            {
                "id": str(hit.id),
                "score": _finite(hit.score),
                "doc_id": hit.doc_id,
                "seq": hit.seq,
                "text": hit.text,
                "metadata": hit.metadata,
                "model": hit.model,
                "neighbours": [{"seq": near.seq, "text": near.text} for near in hit.neighbours],
            }
            for hit in result.hits
        ],
    }


# A character str.isspace() does not count as whitespace, in a regex Python and ECMA-262 read alike.
NOT_BLANK = re.compile(r"[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")


def query_router(retriever: Answerer, config: QueryConfig) -> APIRouter:
    expose_label_values(QUERIES, QUERY_BACKENDS)
    expose_label_values(QUERY_FALLBACKS, FALLBACK_REASONS)
    expose_label_values(QUERY_MODES, [mode.value for mode in SearchMode])

    class QueryRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")

        # A query of only whitespace is refused by the handler with its own message; the pattern states
        # it in the schema (spelled out: JSON Schema's \s is ECMA-262's, not Python's).
        query: Annotated[
            str,
            Field(
                min_length=1,
                max_length=config.max_query_chars,
                description="What to search for.",
                json_schema_extra={"pattern": NOT_BLANK.pattern},
            ),
        ]
        # Field before BeforeValidator: in the other order pydantic leaves the bounds out of the schema.
        top_k: Annotated[StrictInt, Field(ge=1, le=config.max_top_k), BeforeValidator(whole_float_as_int)] = (
            config.default_top_k
        )
        filter: SearchFilter | None = None
        backend: Backend = Backend.AUTO
        mode: SearchMode | None = Field(
            None,
            description=(
                f"dense (by meaning), lexical (BM25 over the chunks' words) or hybrid (both, fused by rank); "
                f"default {config.default_mode.value}."
            ),
        )
        max_per_document: (
            Annotated[StrictInt, Field(ge=0, le=100), BeforeValidator(whole_float_as_int)] | None
        ) = Field(
            None,
            description=(
                "At most this many chunks of one document, so that the hits cover distinct documents "
                f"(0: no limit); default {config.max_chunks_per_document}."
            ),
        )
        neighbours: Annotated[
            StrictInt, Field(ge=0, le=MAX_NEIGHBOURS), BeforeValidator(whole_float_as_int)
        ] = Field(0, description="Also return the chunks up to this many places before and after each hit.")

    router = APIRouter(prefix="/v1", tags=["query"], route_class=StrictJsonRoute)

    @router.post(
        "/query",
        response_model=QueryResponse,
        responses=error_responses(400, 401, 403, 413, 422, 503),
        summary="Search the collection",
    )
    async def query(request: QueryRequest, http: Request) -> FastJSONResponse:
        if not NOT_BLANK.search(request.query):
            raise HTTPException(422, "query must contain some text")
        search_filter = tenant_filter(request.filter, held_tenant(http))
        try:
            question = Question(
                request.query,
                request.top_k,
                search_filter,
                request.backend,
                request.mode,
                request.max_per_document,
                request.neighbours,
            )
            result = await retriever.ask(question)
        except Exception as exc:
            if request.backend is Backend.QDRANT:
                raise HTTPException(503, f"qdrant could not answer: {exc}") from exc
            raise
        return FastJSONResponse(response_body(result))

    return router
