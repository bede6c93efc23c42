"""The custom resources' status as pydantic models: their CRD schema, what the operator writes, and what the
consistency job writes under a RagPipeline's ``status.consistency``."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from faro_workloads.contract.api import ApiModel
from faro_workloads.contract.conditions import COLLECTION_CONDITIONS, RAGPIPELINE_CONDITIONS
from faro_workloads.contract.index_profile import IndexProfile

REASON_PATTERN = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"
"""What the API server accepts as a condition reason (metav1.Condition); Faro's are CamelCase words."""


class Condition(ApiModel):
    """A Kubernetes-style condition: one per type, CamelCase reason, a message for people."""

    type: str = Field(..., min_length=1, max_length=316)
    status: Literal["True", "False", "Unknown"]
    reason: str = Field(..., pattern=REASON_PATTERN, max_length=1024)
    message: str = Field(..., max_length=32768)
    last_transition_time: str = Field(..., description="RFC 3339 time the status last changed.")
    observed_generation: int | None = Field(None, ge=0, description="The .metadata.generation it is about.")


class CollectionStatus(ApiModel):
    observed_generation: int | None = Field(None, description="The generation last reconciled.")
    conditions: list[Condition] = Field(
        default_factory=list, description=f"{', '.join(COLLECTION_CONDITIONS)}."
    )
    qdrant_url: str | None = Field(None, description="The URL workloads use to reach Qdrant.")
    dimension: int | None = Field(None, description="The dimension the stores were created with.")
    distance: str | None = Field(None, description="The distance the stores were created with.")
    collection_name: str | None = Field(None, description="The collection's name in both stores.")
    live_generation: int | None = Field(None, description="The index generation queries are answered from.")
    qdrant_points: int | None = Field(
        None, description="Points of the live generation in Qdrant at the last refresh."
    )
    postgres_rows: int | None = Field(
        None, description="Chunk rows of the live generation in PostgreSQL at the last refresh."
    )
    last_refresh_time: str | None = None


class ConsistencyOutcome(StrEnum):
    """The verdict of a consistency run."""

    CONSISTENT = "Consistent"
    REPAIRED = "Repaired"
    DRIFT = "Drift"


class CensusResult(ApiModel):
    """The last census: acknowledged documents (chunk objects in S3) counted against both stores."""

    acknowledged: int | None = Field(
        None, description="Documents acknowledged: chunk objects in S3, or the bucket source's documents."
    )
    missing_in_postgres: int | None = Field(
        None, description="Acknowledged, not in PostgreSQL (or an older version), past the grace."
    )
    missing_in_qdrant: int | None = Field(None, description="In PostgreSQL with points Qdrant lacks.")
    orphans: int | None = Field(None, description="In PostgreSQL with nothing acknowledged (deletes lost).")
    failed: int | None = Field(None, description="Marked failed (dead-lettered).")
    in_flight: int | None = Field(None, description="Acknowledged within the grace: on their way.")
    requeued: int | None = Field(None, description="Sent to the embedding engine again by the repair.")
    orphans_deleted: int | None = None
    complete: bool | None = Field(None, description="No gap left (after the repair, when it ran).")


class ConsistencyResult(ApiModel):
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
    census: CensusResult | None = Field(None, description="The chunk objects' census (pipelines with S3).")
    source_sync: CensusResult | None = Field(
        None, description="The bucket source's census: the full sync (pipelines with spec.source.documents)."
    )
    result: ConsistencyOutcome | None = Field(
        None,
        description="Consistent: the stores agree; Repaired: they agree after repair changed Qdrant; "
        "Drift: they do not.",
    )


class PipelineEndpoints(ApiModel):
    chunker: str | None = Field(None, description="In-cluster URL of the documents API.")
    query: str | None = Field(None, description="In-cluster URL of the query API.")


class GenerationStatus(ApiModel):
    """One index generation of the pipeline's Collection, as PostgreSQL's registry records it."""

    id: int
    state: str = Field(..., description="Building, Live or Retired.")
    model: str = Field(..., description="provider:model@dimension.")
    chunking: str = Field(..., description="strategy size/overlap and the tokenizer.")
    fingerprint: str
    profile: IndexProfile | None = Field(
        None,
        description="The index profile in full (what `faro generations rollback` sets the spec back to).",
    )
    created: str | None = Field(None, description="RFC 3339.")
    live_since: str | None = Field(None, description="RFC 3339, while or since it was last live.")
    documents: int | None = Field(None, description="Documents in the Collection (building generation).")
    done: int | None = Field(None, description="Documents it holds at their content (building generation).")
    eta: str | None = Field(
        None, description="RFC 3339: when it should hold every document, at its rate so far (building)."
    )
    approved: bool | None = Field(None, description="Its cutover was approved (building generation).")


class RagPipelineStatus(ApiModel):
    observed_generation: int | None = Field(None, description="The generation last reconciled.")
    conditions: list[Condition] = Field(
        default_factory=list, description=f"{', '.join(RAGPIPELINE_CONDITIONS)}."
    )
    endpoints: PipelineEndpoints | None = None
    documents: int | None = Field(None, description="Documents in PostgreSQL.")
    chunks: int | None = Field(None, description="Chunks in PostgreSQL.")
    skipped_kinds: list[str] = Field(
        default_factory=list, description="Optional children not created because the cluster lacks the API."
    )
    autoscaling: dict[str, str] = Field(
        default_factory=dict,
        description="The autoscaler of each autoscaled component (e.g. embedder: ScaledObject, queryService: "
        "HorizontalPodAutoscaler).",
    )
    access: dict[str, str] = Field(
        default_factory=dict,
        description="How each data API (documents, query) is reached: the ways in joined by + (apiKeys: the "
        "keys Secret, apiKey: the query service's one key, serviceAccounts: RBAC-authorized tokens), else "
        "anonymous (open on purpose) or closed (every call refused).",
    )
    consistency: ConsistencyResult | None = None
    live_generation: int | None = Field(None, description="The index generation queries read.")
    generations: list[GenerationStatus] = Field(
        default_factory=list, description="The Collection's index generations (live, building, retired)."
    )


def consistency_patch(result: ConsistencyResult) -> dict[str, Any]:
    """The JSON merge patch of a RagPipeline that sets ``status.consistency`` (and nothing else)."""
    status = RagPipelineStatus(consistency=result)
    return {"status": status.model_dump(by_alias=True, mode="json", exclude_unset=True)}
