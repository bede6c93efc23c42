"""The custom resources' status as pydantic models (their CRD schema and what the operator writes)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from faro_operator.specs import SpecModel


class Condition(SpecModel):
    """A Kubernetes-style condition: one per type, CamelCase reason, a message for people."""

    type: str = Field(..., min_length=1, max_length=316)
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(..., pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$", max_length=1024)
    message: str = Field(..., max_length=32768)
    last_transition_time: str = Field(..., description="RFC 3339 time the status last changed.")
    observed_generation: int | None = Field(None, ge=0, description="The .metadata.generation it is about.")


class CollectionStatus(SpecModel):
    observed_generation: int | None = Field(None, description="The generation last reconciled.")
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, QdrantReady, PostgresReady, Consistent, BridgeReady..."
    )
    qdrant_url: str | None = Field(None, description="The URL workloads use to reach Qdrant.")
    dimension: int | None = Field(None, description="The dimension the stores were created with.")
    distance: str | None = Field(None, description="The distance the stores were created with.")
    collection_name: str | None = Field(None, description="The collection's name in both stores.")
    qdrant_points: int | None = Field(None, description="Points in Qdrant at the last refresh.")
    postgres_rows: int | None = Field(None, description="Chunk rows in PostgreSQL at the last refresh.")
    last_refresh_time: str | None = None


class ConsistencyResult(SpecModel):
    """What the consistency job found last (written by the job itself)."""

    overlap_at_k: float | None = Field(None, description="Mean overlap of top-k results of both stores.")
    k: int | None = None
    sampled: int | None = None
    qdrant_points: int | None = None
    postgres_rows: int | None = None
    missing: int | None = Field(None, description="Points Postgres has and Qdrant lacks.")
    orphans: int | None = Field(None, description="Points Qdrant has and Postgres lacks.")
    repaired: int | None = None
    last_run_time: str | None = None
    result: Literal["Consistent", "Drift", "Repaired"] | None = None


class PipelineEndpoints(SpecModel):
    chunker: str | None = Field(None, description="In-cluster URL of the documents API.")
    query: str | None = Field(None, description="In-cluster URL of the query API.")


class RagPipelineStatus(SpecModel):
    observed_generation: int | None = Field(None, description="The generation last reconciled.")
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, CollectionReady, ChunkerReady, EmbedderReady, QueryReady..."
    )
    endpoints: PipelineEndpoints | None = None
    documents: int | None = Field(None, description="Documents in PostgreSQL.")
    chunks: int | None = Field(None, description="Chunks in PostgreSQL.")
    skipped_kinds: list[str] = Field(
        default_factory=list, description="Optional children not created because the cluster lacks the API."
    )
    consistency: ConsistencyResult | None = None
