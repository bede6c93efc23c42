"""The condition catalogue of the contract: each named constructor builds the condition it names, every
reason is one CamelCase word, the CRDs document exactly the catalogue, and the operator writes every
constructor's condition (so nothing documented goes unwritten)."""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
from pathlib import Path
from typing import Any

import kopf
import pytest
from kopf._core.engines.posting import event_queue_loop_var, event_queue_var, settings_var

from faro_operator.crds import collection_crd, ragpipeline_crd
from faro_operator.reconcile_events import write_conditions
from faro_operator.runner import operator_settings
from faro_workloads.contract import conditions
from faro_workloads.contract.conditions import (
    COLLECTION_CONDITIONS,
    RAGPIPELINE_CONDITIONS,
    ConditionType,
    ConditionUpdate,
    EventReason,
    Reason,
)
from faro_workloads.contract.generations import CutoverBlock
from faro_workloads.contract.status import REASON_PATTERN

OPERATOR = Path(__file__).resolve().parents[3] / "operator" / "faro_operator"
CAMEL_CASE_WORD = re.compile(r"^(?:[A-Z][a-z0-9]+)+$")

# constructor (by name), its arguments, then the condition it must build: type, status, reason, message
CATALOGUE: list[tuple[str, tuple[Any, ...], str, str, str, str]] = [
    ("all_components_ready", (), "Ready", "True", "AllComponentsReady", "every component is ready"),
    ("spec_accepted", (), "SpecValid", "True", "Valid", "spec accepted"),
    ("invalid_name", ("bad name",), "SpecValid", "False", "InvalidName", "bad name"),
    ("invalid_spec", ("bad spec",), "SpecValid", "False", "InvalidSpec", "bad spec"),
    ("dimension_mismatch", ("8 vs 4",), "SpecValid", "False", "DimensionMismatch", "8 vs 4"),
    ("profile_conflict", ("other model",), "SpecValid", "False", "ProfileConflict", "other model"),
    (
        "reindexing",
        (2, 30, 40),
        "Reindexing",
        "True",
        "GenerationBuilding",
        "generation 2 builds: 30 of 40 documents (75%)",
    ),
    (
        "cutover_blocked",
        (CutoverBlock.AWAITING_APPROVAL, "generation 2: approve it"),
        "CutoverBlocked",
        "True",
        "AwaitingApproval",
        "generation 2: approve it",
    ),
    (
        "cutover_not_blocked",
        (),
        "CutoverBlocked",
        "False",
        "NotBlocked",
        "no cutover is waiting on the gate",
    ),
    (
        "not_reindexing",
        (),
        "Reindexing",
        "False",
        "ProfileCurrent",
        "no index generation builds: the live one has the pipeline's model and chunking",
    ),
    ("completeness", (None,), "Complete", "Unknown", "CensusNotRun", "no census has run yet"),
    (
        "completeness",
        (
            {
                "census": {"complete": True, "acknowledged": 150},
                "sourceSync": {"complete": True, "acknowledged": 50},
            },
        ),
        "Complete",
        "True",
        "AllDocumentsIndexed",
        "200 acknowledged documents, every one in both stores",
    ),
    (
        "completeness",
        ({"census": {"complete": False, "missingInPostgres": 20, "orphans": 3, "requeued": 5}},),
        "Complete",
        "False",
        "DocumentsMissing",
        "15 missing in PostgreSQL; 3 orphans; 5 sent to the embedding engine again",
    ),
    (
        "completeness",
        ({"census": {"complete": True}, "sourceSync": {"complete": False, "failed": 2}},),
        "Complete",
        "False",
        "DocumentsFailed",
        "2 failed",
    ),
    (
        "completeness",
        ({"sourceSync": {"complete": False, "orphans": 4}},),
        "Complete",
        "False",
        "OrphansFound",
        "4 orphans",
    ),
    ("immutable_field_changed", ("dim",), "SpecValid", "False", "ImmutableFieldChanged", "dim"),
    ("postgres_secret_not_found", ("pg",), "PostgresReady", "False", "SecretNotFound", "pg"),
    (
        "postgres_schema_ready",
        (),
        "PostgresReady",
        "True",
        "SchemaReady",
        "table and HNSW index exist",
    ),
    ("postgres_schema_mismatch", ("d",), "PostgresReady", "False", "SchemaMismatch", "d"),
    ("postgres_unreachable", ("down",), "PostgresReady", "False", "Unreachable", "down"),
    ("qdrant_collection_ready", (), "QdrantReady", "True", "CollectionReady", "collection exists"),
    ("qdrant_collection_mismatch", ("d",), "QdrantReady", "False", "CollectionMismatch", "d"),
    ("qdrant_unreachable", ("down",), "QdrantReady", "False", "Unreachable", "down"),
    ("collection_not_found", ("gone",), "CollectionReady", "False", "CollectionNotFound", "gone"),
    ("collection_invalid", ("bad",), "CollectionReady", "False", "CollectionInvalid", "bad"),
    (
        "collection_pending",
        (),
        "CollectionReady",
        "Unknown",
        "CollectionPending",
        "the Collection is not reconciled yet",
    ),
    ("collection_ready", (), "CollectionReady", "True", "CollectionReady", "both stores are ready"),
    ("collection_not_ready", ("x",), "CollectionReady", "False", "CollectionNotReady", "x"),
    (
        "deployment_missing",
        (ConditionType.CHUNKER_READY, "docs-chunker"),
        "ChunkerReady",
        "False",
        "DeploymentMissing",
        "docs-chunker not found",
    ),
    (
        "replicas_available",
        (ConditionType.EMBEDDER_READY, 2, 2),
        "EmbedderReady",
        "True",
        "ReplicasAvailable",
        "2/2 available",
    ),
    (
        "replicas_unavailable",
        (ConditionType.QUERY_READY, 0, 1),
        "QueryReady",
        "False",
        "ReplicasUnavailable",
        "0/1 replicas available",
    ),
    (
        "cronjob_scheduled",
        ("0 * * * *", "2025-03-09T12:00:00Z"),
        "ConsistencyScheduled",
        "True",
        "CronJobScheduled",
        "schedule '0 * * * *'; last run 2025-03-09T12:00:00Z",
    ),
    (
        "cronjob_not_served",
        (),
        "ConsistencyScheduled",
        "False",
        "CronJobNotServed",
        "this cluster serves no CronJob API",
    ),
    (
        "apis_not_served",
        (["ServiceMonitor (monitoring.coreos.com/v1)", "CronJob (batch/v1)"],),
        "OptionalApisReady",
        "False",
        "ApiNotServed",
        "not served here: ServiceMonitor (monitoring.coreos.com/v1), CronJob (batch/v1)",
    ),
    (
        "optional_apis_served",
        (),
        "OptionalApisReady",
        "True",
        "AllApisServed",
        "every optional kind is served and was applied",
    ),
]


def _constructors() -> set[str]:
    """The names of every public function of the catalogue module (each a named constructor)."""
    return {
        name
        for name, function in inspect.getmembers(conditions, inspect.isfunction)
        if function.__module__ == conditions.__name__ and not name.startswith("_")
    }


@pytest.mark.parametrize(
    ("constructor", "args", "type_", "status", "reason", "message"),
    CATALOGUE,
    ids=[row[0] for row in CATALOGUE],
)
def test_each_constructor_builds_the_condition_it_names(
    constructor: str,
    args: tuple[Any, ...],
    type_: str,
    status: str,
    reason: str,
    message: str,
) -> None:
    update = getattr(conditions, constructor)(*args)
    assert (update.type, update.status, update.reason, update.message) == (type_, status, reason, message)
    assert isinstance(update.type, ConditionType) and isinstance(update.reason, Reason)


def test_every_constructor_of_the_catalogue_is_checked_above() -> None:
    checked = {row[0] for row in CATALOGUE} | {"not_ready"}  # not_ready: the test below
    assert _constructors() == checked


@pytest.mark.parametrize(("status", "ready"), [("False", "False"), ("Unknown", "Unknown")])
def test_not_ready_carries_the_blocking_reason_and_names_the_condition(status: str, ready: str) -> None:
    blocking = ConditionUpdate(ConditionType.QDRANT_READY, status, Reason.UNREACHABLE, "down")  # type: ignore[arg-type]
    update = conditions.not_ready(blocking)
    assert (update.type, update.status, update.reason) == ("Ready", ready, "Unreachable")
    assert update.message == "QdrantReady: down"


def test_reasons_and_types_are_single_camel_case_words_the_api_server_accepts() -> None:
    for name in [*Reason, *EventReason, *ConditionType]:
        assert CAMEL_CASE_WORD.match(name), f"{name!r} is not one CamelCase word"
        assert re.match(REASON_PATTERN, name), name
    assert len(set(Reason)) == len(Reason), "a reason is spelled twice"


def test_component_constructors_refuse_a_condition_that_is_no_component() -> None:
    with pytest.raises(ValueError, match="SpecValid is not a component's condition"):
        conditions.replicas_available(ConditionType.SPEC_VALID, 1, 1)


@pytest.mark.parametrize(
    ("crd", "documented"),
    [(collection_crd(), COLLECTION_CONDITIONS), (ragpipeline_crd(), RAGPIPELINE_CONDITIONS)],
    ids=["collection", "ragpipeline"],
)
def test_the_crds_document_exactly_the_catalogue(crd: dict[str, Any], documented: tuple[str, ...]) -> None:
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    described = status["properties"]["conditions"]["description"]
    assert re.findall(r"[A-Z][A-Za-z]+", described) == list(documented)
    assert set(COLLECTION_CONDITIONS) | set(RAGPIPELINE_CONDITIONS) == set(ConditionType)


def test_the_operator_writes_every_condition_of_the_catalogue() -> None:
    """Every constructor is called by the operator: no documented condition goes unwritten."""
    called: set[str] = set()
    for path in OPERATOR.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id == "conditions":
                    called.add(node.attr)
            elif isinstance(node, ast.ImportFrom) and node.module == conditions.__name__:
                called |= {alias.name for alias in node.names}
    assert _constructors() - called == set()


def test_a_retired_condition_is_replaced_by_its_new_name_with_a_warning_event() -> None:
    """A Collection written by an earlier version shows MonitoringReady; the next write drops it."""
    body = kopf.Body(
        {
            "apiVersion": "faro.dev/v1alpha1",
            "kind": "Collection",
            "metadata": {"name": "docs", "namespace": "team-a", "uid": "u1", "generation": 3},
            "status": {
                "conditions": [
                    {"type": "MonitoringReady", "status": "False", "reason": "ApiNotServed", "message": "x"}
                ]
            },
        }
    )
    patch = kopf.Patch()

    async def write() -> list[Any]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        event_queue_loop_var.set(asyncio.get_running_loop())
        event_queue_var.set(queue)
        settings_var.set(operator_settings())  # events are posted as the running operator posts them
        write_conditions(
            body, patch, [conditions.apis_not_served(["ServiceMonitor (monitoring.coreos.com/v1)"])]
        )
        return [queue.get_nowait() for _ in range(queue.qsize())]

    events = asyncio.run(write())

    written = {c["type"]: c for c in patch["status"]["conditions"]}
    assert set(written) == {"OptionalApisReady", "Ready"}
    assert (written["OptionalApisReady"]["reason"], written["Ready"]["status"]) == ("ApiNotServed", "True")
    assert written["OptionalApisReady"]["observedGeneration"] == 3
    assert [(e.type, e.reason) for e in events] == [
        ("Warning", "ApiNotServed"),
        ("Normal", "AllComponentsReady"),
    ]
