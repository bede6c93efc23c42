"""A consistency run -> the merge patch of the RagPipeline's ``status.consistency`` (pure, no cluster), and
when the job writes it at all."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from faro_workloads.consistency_job import (
    ExitCode,
    JobResult,
    Outcome,
    Publication,
    publish,
    rfc3339,
    status_patch,
)
from faro_workloads.contract.settings import ConsistencyConfig, FaroSettings, QdrantConfig
from faro_workloads.core.consistency import ConsistencyReport
from faro_workloads.core.repair import RepairReport

STARTED = datetime(2025, 3, 9, 14, 30, 15, 987654, tzinfo=timezone(timedelta(hours=2)))
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def _report(
    overlap: float = 1.0, missing: int = 0, orphans: int = 0, postgres: int = 40, qdrant: int | None = None
) -> ConsistencyReport:
    return ConsistencyReport(
        k=10,
        sampled=25,
        overlap_at_k=overlap,
        postgres_count=postgres,
        qdrant_count=postgres - missing + orphans if qdrant is None else qdrant,
        missing_ids=[uuid.UUID(int=i + 1) for i in range(missing)],
        orphan_ids=[uuid.UUID(int=1000 + i) for i in range(orphans)],
        outbox_pending=0,
    )


def _result(
    before: ConsistencyReport,
    repair: RepairReport | None = None,
    after: ConsistencyReport | None = None,
    min_overlap: float = 0.95,
) -> JobResult:
    return JobResult(
        before=before,
        repair=repair,
        after=after,
        min_overlap=min_overlap,
        started_at=STARTED,
        duration_seconds=1.5,
    )


def test_consistent_run_sets_every_field_in_camel_case() -> None:
    patch = status_patch(_result(_report()))

    assert patch == {
        "status": {
            "consistency": {
                "overlapAtK": 1.0,
                "k": 10,
                "sampled": 25,
                "qdrantPoints": 40,
                "postgresRows": 40,
                "missing": 0,
                "orphans": 0,
                "repaired": 0,
                "lastRunTime": "2025-03-09T12:30:15Z",
                "result": "Consistent",
            }
        }
    }
    assert json.loads(json.dumps(patch)) == patch  # plain JSON, as the API server receives it


def test_last_run_time_is_rfc3339_in_utc_with_whole_seconds() -> None:
    stamp = status_patch(_result(_report()))["status"]["consistency"]["lastRunTime"]

    assert RFC3339_UTC.match(stamp)
    assert datetime.fromisoformat(stamp) == STARTED.replace(microsecond=0)
    assert rfc3339(datetime(2025, 1, 1, tzinfo=UTC)) == "2025-01-01T00:00:00Z"


def test_missing_points_are_drift() -> None:
    result = _result(_report(overlap=0.8, missing=3, orphans=2))

    status = status_patch(result)["status"]["consistency"]

    assert (status["result"], status["missing"], status["orphans"]) == ("Drift", 3, 2)
    assert (status["postgresRows"], status["qdrantPoints"], status["overlapAtK"]) == (40, 39, 0.8)
    assert result.exit_code is ExitCode.DRIFT


def test_low_overlap_alone_is_drift() -> None:
    result = _result(_report(overlap=0.9), min_overlap=0.95)

    assert status_patch(result)["status"]["consistency"]["result"] == "Drift"
    assert result.problems == ["overlap@10 0.9000 is below 0.95"]


def test_overlap_equal_to_the_minimum_is_enough() -> None:
    assert _result(_report(overlap=0.9), min_overlap=0.9).outcome is Outcome.CONSISTENT


def test_successful_repair_reports_the_state_after_it() -> None:
    before = _report(overlap=0.5, missing=12, orphans=3)
    repair = RepairReport(upserted=12, deleted=3, unchanged=28, recreated_collection=False)
    result = _result(before, repair, _report())

    status = status_patch(result)["status"]["consistency"]

    assert status["result"] == "Repaired" and status["repaired"] == 15
    assert (status["overlapAtK"], status["missing"], status["orphans"], status["qdrantPoints"]) == (
        1.0,
        0,
        0,
        40,
    )
    assert result.exit_code is ExitCode.OK


def test_repair_that_changed_nothing_is_consistent() -> None:
    repair = RepairReport(upserted=0, deleted=0, unchanged=40, recreated_collection=False)

    status = status_patch(_result(_report(), repair, _report()))["status"]["consistency"]

    assert (status["result"], status["repaired"]) == ("Consistent", 0)


@pytest.mark.parametrize("left", [(2, 0), (0, 1)], ids=["missing", "orphans"])
def test_drift_left_after_repair_is_drift(left: tuple[int, int]) -> None:
    repair = RepairReport(upserted=10, deleted=0, unchanged=30, recreated_collection=False)
    result = _result(_report(missing=10), repair, _report(missing=left[0], orphans=left[1]))

    status = status_patch(result)["status"]["consistency"]

    assert (status["result"], status["missing"], status["orphans"]) == ("Drift", *left)
    assert status["repaired"] == 10 and result.exit_code is ExitCode.DRIFT


@pytest.mark.parametrize(
    ("environ", "namespace", "reason"),
    [
        ({}, "faro", "not running in Kubernetes"),
        ({"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, None, "consistency.namespace is not set"),
    ],
    ids=["outside-kubernetes", "no-namespace"],
)
def test_status_is_only_written_inside_kubernetes_with_a_namespace(
    environ: dict[str, str], namespace: str | None, reason: str
) -> None:
    settings = FaroSettings(
        pipeline="docs",
        qdrant=QdrantConfig(path="/unused"),
        consistency=ConsistencyConfig(namespace=namespace),
    )

    publications = publish(_result(_report()), settings, environ)

    assert publications["status"] == Publication("skipped", reason)
    assert publications["pushgateway"].state == "skipped"
