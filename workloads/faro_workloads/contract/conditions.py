"""The condition catalogue: every condition type and reason Faro writes, and one named constructor per
finding, so a reconciler never spells a type or a reason (the way CloudNativePG's
``api/v1/cluster_conditions.go`` does).

A constructor returns a :class:`ConditionUpdate`; the operator merges updates into ``status.conditions``
(``faro_operator.conditions.merge_conditions``), adds the ``Ready`` summary and posts events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from faro_workloads.contract.generations import CutoverBlock

ConditionStatus = Literal["True", "False", "Unknown"]


class ConditionType(StrEnum):
    READY = "Ready"
    """Summary: True when every other, non-informational condition is True."""
    SPEC_VALID = "SpecValid"
    """The spec (and the resource's name) was accepted."""
    POSTGRES_READY = "PostgresReady"
    """Collection: the pgvector table and HNSW index exist with the spec's dimension and distance."""
    QDRANT_READY = "QdrantReady"
    """Collection: the Qdrant collection exists (through the bridge when Qdrant runs outside)."""
    COLLECTION_READY = "CollectionReady"
    """RagPipeline: the Collection it names exists and is Ready."""
    CHUNKER_READY = "ChunkerReady"
    EMBEDDER_READY = "EmbedderReady"
    QUERY_READY = "QueryReady"
    CONSISTENCY_SCHEDULED = "ConsistencyScheduled"
    """RagPipeline: the consistency CronJob exists; the message says when it last ran."""
    OPTIONAL_APIS_READY = "OptionalApisReady"
    REINDEXING = "Reindexing"
    """Informational, RagPipeline: True while a new index generation builds (after a model or chunking
    change); the message says how far it is."""
    CUTOVER_BLOCKED = "CutoverBlocked"
    """Informational, RagPipeline: True when the building generation's last gate refused the cutover (the
    reason says which check, the message gives the numbers); the live generation keeps serving."""
    COMPLETE = "Complete"
    """Informational, RagPipeline: True when the last census found every acknowledged document in both
    stores and no orphan (after its repair, when it ran); the message gives the gaps."""
    """Informational: False when optional kinds (ServiceMonitor, CronJob, EndpointSlice) were skipped
    because the cluster does not serve them. Was ``MonitoringReady`` on a Collection."""


class Reason(StrEnum):
    """Why a condition has its status: one CamelCase word each."""

    ALL_COMPONENTS_READY = "AllComponentsReady"
    VALID = "Valid"
    INVALID_NAME = "InvalidName"
    INVALID_SPEC = "InvalidSpec"
    DIMENSION_MISMATCH = "DimensionMismatch"
    PROFILE_CONFLICT = "ProfileConflict"
    IMMUTABLE_FIELD_CHANGED = "ImmutableFieldChanged"
    SECRET_NOT_FOUND = "SecretNotFound"
    SCHEMA_READY = "SchemaReady"
    SCHEMA_MISMATCH = "SchemaMismatch"
    UNREACHABLE = "Unreachable"
    COLLECTION_READY = "CollectionReady"
    COLLECTION_MISMATCH = "CollectionMismatch"
    COLLECTION_NOT_FOUND = "CollectionNotFound"
    COLLECTION_INVALID = "CollectionInvalid"
    COLLECTION_PENDING = "CollectionPending"
    COLLECTION_NOT_READY = "CollectionNotReady"
    DEPLOYMENT_MISSING = "DeploymentMissing"
    REPLICAS_AVAILABLE = "ReplicasAvailable"
    REPLICAS_UNAVAILABLE = "ReplicasUnavailable"
    CRONJOB_SCHEDULED = "CronJobScheduled"
    CRONJOB_NOT_SERVED = "CronJobNotServed"
    API_NOT_SERVED = "ApiNotServed"
    ALL_APIS_SERVED = "AllApisServed"
    GENERATION_BUILDING = "GenerationBuilding"
    PROFILE_CURRENT = "ProfileCurrent"
    BACKFILL_INCOMPLETE = CutoverBlock.BACKFILL_INCOMPLETE.value
    DOCUMENTS_WITHOUT_TEXT = CutoverBlock.DOCUMENTS_WITHOUT_TEXT.value
    STORES_DISAGREE = CutoverBlock.STORES_DISAGREE.value
    AWAITING_APPROVAL = CutoverBlock.AWAITING_APPROVAL.value
    RECALL_DROPPED = CutoverBlock.RECALL_DROPPED.value
    GOLDEN_QUERIES_INVALID = CutoverBlock.GOLDEN_QUERIES_INVALID.value
    NOT_BLOCKED = "NotBlocked"
    ALL_DOCUMENTS_INDEXED = "AllDocumentsIndexed"
    DOCUMENTS_MISSING = "DocumentsMissing"
    DOCUMENTS_FAILED = "DocumentsFailed"
    ORPHANS_FOUND = "OrphansFound"
    CENSUS_NOT_RUN = "CensusNotRun"


class EventReason(StrEnum):
    """Reasons of events that belong to no condition (conditions' own events carry their reason)."""

    DATA_RETAINED = "DataRetained"
    DATA_DELETED = "DataDeleted"
    GENERATION_LIVE = "GenerationLive"
    """A new index generation became live (a cutover)."""
    GENERATION_ROLLED_BACK = "GenerationRolledBack"
    """A retained index generation became live again (a rollback)."""
    ACCESS_CLOSED = "AccessClosed"
    """A data API refuses every call: no API keys, no service-account tokens, and anonymous access is off."""
    ACCESS_REVIEW_REMOVED = "AccessReviewRemoved"
    """The services' token-review bindings were deleted: the pipeline no longer accepts service-account
    tokens."""
    AUTOSCALER_REMOVED = "AutoscalerRemoved"
    """An autoscaler the operator made was deleted: its component no longer autoscales, or another kind
    scales it now (KEDA installed, or removed)."""


COLLECTION_CONDITIONS = (
    ConditionType.READY,
    ConditionType.SPEC_VALID,
    ConditionType.POSTGRES_READY,
    ConditionType.QDRANT_READY,
    ConditionType.OPTIONAL_APIS_READY,
)
"""The conditions of a Collection (and what its CRD documents)."""
RAGPIPELINE_CONDITIONS = (
    ConditionType.READY,
    ConditionType.SPEC_VALID,
    ConditionType.COLLECTION_READY,
    ConditionType.CHUNKER_READY,
    ConditionType.EMBEDDER_READY,
    ConditionType.QUERY_READY,
    ConditionType.CONSISTENCY_SCHEDULED,
    ConditionType.OPTIONAL_APIS_READY,
    ConditionType.REINDEXING,
    ConditionType.CUTOVER_BLOCKED,
    ConditionType.COMPLETE,
)
"""The conditions of a RagPipeline (and what its CRD documents)."""
COMPONENT_CONDITIONS = (ConditionType.CHUNKER_READY, ConditionType.EMBEDDER_READY, ConditionType.QUERY_READY)
"""One per Deployment of a RagPipeline: its replicas are available."""
INFORMATIONAL_CONDITIONS = frozenset(
    {
        ConditionType.OPTIONAL_APIS_READY,
        ConditionType.REINDEXING,
        ConditionType.CUTOVER_BLOCKED,
        ConditionType.COMPLETE,
    }
)
"""Reported, but not part of Ready: a cluster without the Prometheus Operator still runs the pipeline, and a
pipeline that builds a new index generation still serves the live one."""
RETIRED_CONDITIONS = frozenset({"MonitoringReady"})
"""Types earlier versions wrote; dropped from a status when it is next written."""


@dataclass(frozen=True)
class ConditionUpdate:
    """One condition as a reconcile found it (the merge adds the transition time and generation)."""

    type: ConditionType
    status: ConditionStatus
    reason: Reason
    message: str = ""


FixedCondition = Callable[[], ConditionUpdate]
"""A constructor of a finding that always reads the same."""
FailedCondition = Callable[[str], ConditionUpdate]
"""A constructor of a condition False for one reason; its argument is the message (what was found)."""


# ------------------------------------------------------------- the two shapes of simple constructors


def _fixed(condition: ConditionType, status: ConditionStatus, reason: Reason, message: str) -> FixedCondition:
    update = ConditionUpdate(condition, status, reason, message)
    return lambda: update


def _failure(condition: ConditionType, reason: Reason) -> FailedCondition:
    return lambda message: ConditionUpdate(condition, "False", reason, message)


# ------------------------------------------------------------------------------------------ Ready

all_components_ready = _fixed(
    ConditionType.READY, "True", Reason.ALL_COMPONENTS_READY, "every component is ready"
)


def not_ready(blocking: ConditionUpdate) -> ConditionUpdate:
    """Ready, not True because of ``blocking`` (its reason, and a message naming it)."""
    status: ConditionStatus = "False" if blocking.status == "False" else "Unknown"
    message = f"{blocking.type}: {blocking.message}"
    return ConditionUpdate(ConditionType.READY, status, blocking.reason, message)


# -------------------------------------------------------------------------------------- SpecValid

spec_accepted = _fixed(ConditionType.SPEC_VALID, "True", Reason.VALID, "spec accepted")
invalid_name = _failure(ConditionType.SPEC_VALID, Reason.INVALID_NAME)
invalid_spec = _failure(ConditionType.SPEC_VALID, Reason.INVALID_SPEC)
dimension_mismatch = _failure(ConditionType.SPEC_VALID, Reason.DIMENSION_MISMATCH)
"""The embedding model's dimension is not the Collection's."""
profile_conflict = _failure(ConditionType.SPEC_VALID, Reason.PROFILE_CONFLICT)
"""Another RagPipeline, older, already fills the Collection with another model or chunking: one collection
holds one vector space (its live index generation)."""
immutable_field_changed = _failure(ConditionType.SPEC_VALID, Reason.IMMUTABLE_FIELD_CHANGED)
"""The spec changes a field the stores were created with (dimension, distance)."""

# ------------------------------------------------------------------------------ Collection's stores

postgres_secret_not_found = _failure(ConditionType.POSTGRES_READY, Reason.SECRET_NOT_FOUND)
postgres_schema_ready = _fixed(
    ConditionType.POSTGRES_READY, "True", Reason.SCHEMA_READY, "table and HNSW index exist"
)
postgres_schema_mismatch = _failure(ConditionType.POSTGRES_READY, Reason.SCHEMA_MISMATCH)
postgres_unreachable = _failure(ConditionType.POSTGRES_READY, Reason.UNREACHABLE)
qdrant_collection_ready = _fixed(
    ConditionType.QDRANT_READY, "True", Reason.COLLECTION_READY, "collection exists"
)
qdrant_collection_mismatch = _failure(ConditionType.QDRANT_READY, Reason.COLLECTION_MISMATCH)
qdrant_unreachable = _failure(ConditionType.QDRANT_READY, Reason.UNREACHABLE)

# ------------------------------------------------------------------------- RagPipeline's Collection

collection_not_found = _failure(ConditionType.COLLECTION_READY, Reason.COLLECTION_NOT_FOUND)
collection_invalid = _failure(ConditionType.COLLECTION_READY, Reason.COLLECTION_INVALID)
collection_pending = _fixed(
    ConditionType.COLLECTION_READY,
    "Unknown",
    Reason.COLLECTION_PENDING,
    "the Collection is not reconciled yet",
)
collection_ready = _fixed(
    ConditionType.COLLECTION_READY, "True", Reason.COLLECTION_READY, "both stores are ready"
)
collection_not_ready = _failure(ConditionType.COLLECTION_READY, Reason.COLLECTION_NOT_READY)
"""The Collection's own Ready is not True; the message carries its reason and message."""


# ------------------------------------------------------------------------ RagPipeline's components


def _component(condition: ConditionType) -> ConditionType:
    if condition not in COMPONENT_CONDITIONS:
        raise ValueError(f"{condition} is not a component's condition")
    return condition


def deployment_missing(condition: ConditionType, deployment: str) -> ConditionUpdate:
    """``condition`` is one of :data:`COMPONENT_CONDITIONS`; ``deployment`` the missing Deployment."""
    return ConditionUpdate(
        _component(condition), "False", Reason.DEPLOYMENT_MISSING, f"{deployment} not found"
    )


def replicas_available(condition: ConditionType, available: int, desired: int) -> ConditionUpdate:
    message = f"{available}/{desired} available"
    return ConditionUpdate(_component(condition), "True", Reason.REPLICAS_AVAILABLE, message)


def replicas_unavailable(condition: ConditionType, available: int, desired: int) -> ConditionUpdate:
    message = f"{available}/{desired} replicas available"
    return ConditionUpdate(_component(condition), "False", Reason.REPLICAS_UNAVAILABLE, message)


def cronjob_scheduled(schedule: str | None, last_schedule_time: str | None) -> ConditionUpdate:
    message = f"schedule {schedule!r}; " + (
        f"last run {last_schedule_time}" if last_schedule_time else "not run yet"
    )
    return ConditionUpdate(ConditionType.CONSISTENCY_SCHEDULED, "True", Reason.CRONJOB_SCHEDULED, message)


cronjob_not_served = _fixed(
    ConditionType.CONSISTENCY_SCHEDULED,
    "False",
    Reason.CRONJOB_NOT_SERVED,
    "this cluster serves no CronJob API",
)


# -------------------------------------------------------------------------------- optional kinds


def apis_not_served(skipped: Sequence[str]) -> ConditionUpdate:
    """Informational: the optional kinds in ``skipped`` were not created (the cluster lacks their API)."""
    message = f"not served here: {', '.join(skipped)}"
    return ConditionUpdate(ConditionType.OPTIONAL_APIS_READY, "False", Reason.API_NOT_SERVED, message)


optional_apis_served = _fixed(
    ConditionType.OPTIONAL_APIS_READY,
    "True",
    Reason.ALL_APIS_SERVED,
    "every optional kind is served and was applied",
)
"""Written when nothing was skipped, so a False left from before the API was installed turns True."""


# ------------------------------------------------------------------------------- index generations


def reindexing(generation: int, done: int, documents: int, eta: str | None = None) -> ConditionUpdate:
    """Informational: generation ``generation`` builds and holds ``done`` of ``documents`` (done at ``eta``,
    RFC 3339, when known)."""
    share = f" ({done / documents:.0%})" if documents else ""
    message = f"generation {generation} builds: {done} of {documents} documents{share}"
    if eta is not None:
        message += f", done about {eta}"
    return ConditionUpdate(ConditionType.REINDEXING, "True", Reason.GENERATION_BUILDING, message)


not_reindexing = _fixed(
    ConditionType.REINDEXING,
    "False",
    Reason.PROFILE_CURRENT,
    "no index generation builds: the live one has the pipeline's model and chunking",
)


def cutover_blocked(reason: CutoverBlock, message: str) -> ConditionUpdate:
    """Informational: the building generation's last gate refused the cutover, for ``reason``."""
    return ConditionUpdate(ConditionType.CUTOVER_BLOCKED, "True", Reason(reason.value), message)


cutover_not_blocked = _fixed(
    ConditionType.CUTOVER_BLOCKED, "False", Reason.NOT_BLOCKED, "no cutover is waiting on the gate"
)


# ---------------------------------------------------------------------------------------- the census


def completeness(consistency: dict[str, Any] | None) -> ConditionUpdate:
    """Informational: ``Complete`` from the last censuses the consistency job wrote (``status.consistency``'s
    ``census`` and ``sourceSync``, camelCase keys): True when every one left no gap; else the gaps they left
    (what their repair dealt with is not left), the worst first; Unknown before one ran (or without S3)."""
    reports = [r for r in ((consistency or {}).get(key) for key in ("census", "sourceSync")) if r]
    if not reports or any(report.get("complete") is None for report in reports):
        return ConditionUpdate(
            ConditionType.COMPLETE, "Unknown", Reason.CENSUS_NOT_RUN, "no census has run yet"
        )
    if all(report["complete"] for report in reports):
        acknowledged = sum(report.get("acknowledged") or 0 for report in reports)
        message = f"{acknowledged} acknowledged documents, every one in both stores"
        return ConditionUpdate(ConditionType.COMPLETE, "True", Reason.ALL_DOCUMENTS_INDEXED, message)
    left = {"missingInPostgres": 0, "missingInQdrant": 0, "failed": 0, "orphans": 0}
    for report in reports:
        if report["complete"]:
            continue
        counts = {key: report.get(key) or 0 for key in (*left, "requeued", "orphansDeleted")}
        left["missingInPostgres"] += max(0, counts["missingInPostgres"] - counts["requeued"])
        left["missingInQdrant"] += counts["missingInQdrant"]
        left["failed"] += counts["failed"]
        left["orphans"] += max(0, counts["orphans"] - counts["orphansDeleted"])
    labels = {
        "missingInPostgres": "missing in PostgreSQL",
        "missingInQdrant": "with points missing in Qdrant",
        "failed": "failed",
        "orphans": "orphans",
    }
    found = [f"{count} {labels[key]}" for key, count in left.items() if count]
    requeued = sum(report.get("requeued") or 0 for report in reports)
    if requeued:
        found.append(f"{requeued} sent to the embedding engine again")
    if left["missingInPostgres"] or left["missingInQdrant"]:
        reason = Reason.DOCUMENTS_MISSING
    else:
        reason = Reason.DOCUMENTS_FAILED if left["failed"] else Reason.ORPHANS_FOUND
    return ConditionUpdate(ConditionType.COMPLETE, "False", reason, "; ".join(found) or "gaps found")
