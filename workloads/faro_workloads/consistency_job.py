"""The consistency job: what a RagPipeline's CronJob runs as ``faro consistency``.

One run compares PostgreSQL (the source of truth) with Qdrant for the configured collection
(:func:`~faro_workloads.core.consistency.check_consistency`); with repair on, it realigns Qdrant from
Postgres (:func:`~faro_workloads.core.repair.repair_qdrant`) and checks again. The outcome, a
:class:`JobResult`, is published three ways:

- one JSON document on stdout (:func:`result_document`; the caller prints it);
- gauges pushed to a Prometheus Pushgateway when ``consistency.pushgateway_url`` is set
  (:func:`metrics_registry`, :func:`push_metrics`);
- ``status.consistency`` of the owning RagPipeline when running inside Kubernetes (:func:`status_patch`,
  :func:`write_status`).

:func:`run_consistency` is the core (already-open stores in, result out); :func:`run_job` builds the stores
from :class:`FaroSettings`, runs the core and publishes. Exit codes: see :class:`ExitCode`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum, StrEnum
from typing import Any, Literal

import httpx
import psycopg
from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway
from pydantic import ValidationError
from qdrant_client.http.exceptions import ApiException as QdrantApiException

from faro_workloads import FaroError
from faro_workloads.core.config import ConsistencyConfig, FaroSettings
from faro_workloads.core.consistency import ConsistencyReport, check_consistency
from faro_workloads.core.repair import RepairReport, repair_qdrant
from faro_workloads.core.stores.pgvector import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

log = logging.getLogger(__name__)

JOB_NAME = "faro-consistency"
"""The Pushgateway ``job`` label of every push."""
ID_LIMIT = 100
"""Missing/orphan ids listed in the JSON document (the totals are always given)."""
PUSH_TIMEOUT_SECONDS = 10.0
STATUS_TIMEOUT_SECONDS = 10.0
POSTGRES_CONNECT_TIMEOUT_SECONDS = 10

RAGPIPELINE_GROUP = "faro.dev"
RAGPIPELINE_VERSION = "v1alpha1"
RAGPIPELINE_PLURAL = "ragpipelines"


class ExitCode(IntEnum):
    """The job's exit codes. DRIFT wins over PUBLISH_FAILED when both apply (the check is the verdict)."""

    OK = 0
    """overlap@k >= min_overlap and no missing or orphan ids (after repair, when repair ran)."""
    DRIFT = 1
    """Overlap below the minimum or ids still differ; also: a store could not be reached."""
    CONFIGURATION = 2
    """The FARO_* settings or the command's options are invalid."""
    PUBLISH_FAILED = 3
    """The stores agree, but the Pushgateway push or the RagPipeline status write failed."""


class Outcome(StrEnum):
    """``status.consistency.result``: agreed without changes, agreed after repair changed Qdrant, or not."""

    CONSISTENT = "Consistent"
    REPAIRED = "Repaired"
    DRIFT = "Drift"


class ConfigurationError(ValueError):
    """The job's configuration is invalid; the message is one readable line."""


class StoreUnavailable(FaroError):
    """A store could not be opened or read; the message is one readable line."""


@dataclass(frozen=True, slots=True)
class JobResult:
    """One run: the check, the repair and the check after it (both None unless repair ran), the threshold,
    when the run started (UTC) and how long it took."""

    before: ConsistencyReport
    repair: RepairReport | None
    after: ConsistencyReport | None
    min_overlap: float
    started_at: datetime
    duration_seconds: float

    @property
    def final(self) -> ConsistencyReport:
        """The state the stores are left in: the check after repair, else the only check."""
        return self.after or self.before

    @property
    def problems(self) -> list[str]:
        """Why the final state is not acceptable, one readable phrase each (empty when it is)."""
        final, problems = self.final, []
        if final.overlap_at_k < self.min_overlap:
            problems.append(f"overlap@{final.k} {final.overlap_at_k:.4f} is below {self.min_overlap}")
        if final.missing_ids:
            problems.append(f"{len(final.missing_ids)} points missing from qdrant")
        if final.orphan_ids:
            problems.append(f"{len(final.orphan_ids)} orphan points in qdrant")
        return problems

    @property
    def ok(self) -> bool:
        """Whether the final state is acceptable."""
        return not self.problems

    @property
    def repaired_points(self) -> int:
        """Points the repair upserted or deleted (0 when repair did not run)."""
        return self.repair.upserted + self.repair.deleted if self.repair else 0

    @property
    def outcome(self) -> Outcome:
        """Drift when not ok; Repaired when ok and the repair changed Qdrant; else Consistent."""
        if not self.ok:
            return Outcome.DRIFT
        return Outcome.REPAIRED if self.repaired_points else Outcome.CONSISTENT

    @property
    def exit_code(self) -> ExitCode:
        """OK or DRIFT, from the check alone (publishing failures are added by :func:`run_job`)."""
        return ExitCode.OK if self.ok else ExitCode.DRIFT


@dataclass(frozen=True, slots=True)
class Publication:
    """What happened to the result at one target (Pushgateway, RagPipeline status).

    ``state`` is "done", "failed" or "skipped"; ``detail`` says where it went, the error, or why it was
    skipped.
    """

    state: Literal["done", "failed", "skipped"]
    detail: str

    def to_dict(self) -> dict[str, str]:
        """The publication as it appears under ``published`` in the JSON document."""
        return {"state": self.state, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What :func:`run_job` hands back: the result, the JSON document to print and the exit code."""

    result: JobResult
    document: dict[str, Any]
    exit_code: ExitCode
    publications: dict[str, Publication] = field(default_factory=dict)


def rfc3339(moment: datetime) -> str:
    """``moment`` in UTC as RFC 3339 with whole seconds (the format of Kubernetes ``metav1.Time``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------------- core


def run_consistency(pg: PgVectorStore, qdrant: QdrantStore, config: ConsistencyConfig) -> JobResult:
    """Check the two open stores; with ``config.repair``, repair Qdrant from Postgres and check again.

    Raises whatever the stores raise when they cannot be reached (see :func:`run_job` for the translation).
    """
    started_at = datetime.now(UTC)
    start = time.monotonic()
    before = check_consistency(pg, qdrant, sample_size=config.sample_size, k=config.k)
    repair = after = None
    if config.repair:
        repair = repair_qdrant(pg, qdrant)
        after = check_consistency(pg, qdrant, sample_size=config.sample_size, k=config.k)
    return JobResult(
        before=before,
        repair=repair,
        after=after,
        min_overlap=config.min_overlap,
        started_at=started_at,
        duration_seconds=time.monotonic() - start,
    )


def _report_document(report: ConsistencyReport, id_limit: int) -> dict[str, Any]:
    return {
        "overlap_at_k": report.overlap_at_k,
        "k": report.k,
        "sampled": report.sampled,
        "postgres_count": report.postgres_count,
        "qdrant_count": report.qdrant_count,
        "outbox_pending": report.outbox_pending,
        "missing_count": len(report.missing_ids),
        "missing_ids": [str(i) for i in report.missing_ids[:id_limit]],
        "orphan_count": len(report.orphan_ids),
        "orphan_ids": [str(i) for i in report.orphan_ids[:id_limit]],
    }


def result_document(
    result: JobResult, *, pipeline: str, collection: str, id_limit: int = ID_LIMIT
) -> dict[str, Any]:
    """The JSON document of a run. Id lists hold at most ``id_limit`` ids (sorted); ``*_count`` the totals.

    ``verdict`` is "ok" or "drift", ``result`` the :class:`Outcome`, ``problems`` why the verdict is drift;
    ``before`` is the first check, ``repair`` and ``after`` are null unless repair ran.
    """
    return {
        "pipeline": pipeline,
        "collection": collection,
        "started_at": rfc3339(result.started_at),
        "duration_seconds": round(result.duration_seconds, 3),
        "min_overlap": result.min_overlap,
        "verdict": "ok" if result.ok else "drift",
        "result": result.outcome.value,
        "problems": result.problems,
        "before": _report_document(result.before, id_limit),
        "repair": result.repair.to_dict() if result.repair else None,
        "after": _report_document(result.after, id_limit) if result.after else None,
    }


# ---------------------------------------------------------------------------------------------- metrics


def metrics_registry(result: JobResult) -> CollectorRegistry:
    """A registry of its own (never the process's default one) holding the run's gauges.

    Store figures describe the final state (after repair when repair ran). Every gauge is set on every run
    except ``faro_consistency_last_success_timestamp_seconds``, which only ok runs carry.
    """
    registry = CollectorRegistry(auto_describe=True)
    final = result.final

    def gauge(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, documentation, labels, registry=registry)

    gauge("faro_consistency_overlap_ratio", "Mean overlap@k of the two stores' top-k ids (0..1).").set(
        final.overlap_at_k
    )
    gauge("faro_consistency_k", "The k of overlap@k.").set(final.k)
    gauge("faro_consistency_min_overlap_ratio", "Configured minimum overlap@k; below it the job fails.").set(
        result.min_overlap
    )
    points = gauge("faro_consistency_points", "Points held by each store.", ("store",))
    points.labels(store="qdrant").set(final.qdrant_count)
    points.labels(store="postgres").set(final.postgres_count)
    gauge("faro_consistency_missing_points", "Points in PostgreSQL but not in Qdrant.").set(
        len(final.missing_ids)
    )
    gauge("faro_consistency_orphan_points", "Points in Qdrant but not in PostgreSQL.").set(
        len(final.orphan_ids)
    )
    gauge("faro_consistency_outbox_pending", "Qdrant operations waiting in the PostgreSQL outbox.").set(
        final.outbox_pending
    )
    repaired = gauge(
        "faro_consistency_repaired_points", "Qdrant points the last run's repair changed.", ("action",)
    )
    repaired.labels(action="upserted").set(result.repair.upserted if result.repair else 0)
    repaired.labels(action="deleted").set(result.repair.deleted if result.repair else 0)
    gauge("faro_consistency_duration_seconds", "Duration of the last run (check and repair).").set(
        result.duration_seconds
    )
    gauge("faro_consistency_last_run_timestamp_seconds", "Unix time the last run started.").set(
        result.started_at.timestamp()
    )
    if result.ok:
        gauge("faro_consistency_last_success_timestamp_seconds", "Unix time the last ok run started.").set(
            result.started_at.timestamp()
        )
    return registry


def push_metrics(
    registry: CollectorRegistry,
    gateway: str,
    *,
    pipeline: str,
    collection: str,
    namespace: str | None = None,
    timeout: float = PUSH_TIMEOUT_SECONDS,
) -> None:
    """Push ``registry`` to the Pushgateway under job "faro-consistency", grouped by pipeline and collection
    (and namespace when known, so the dashboards' namespace filter finds the job's gauges: Prometheus scrapes
    the Pushgateway with ``honor_labels``, and the pushed labels win over the Pushgateway's own namespace).

    Uses POST (``pushadd_to_gateway``), not PUT (``push_to_gateway``): POST replaces only the metrics of the
    same names, so the last success timestamp of an earlier run survives runs that fail, which is what a
    "no success for N hours" alert needs. Every other gauge is pushed on every run, so it is replaced.
    Raises ``OSError`` (``urllib.error.URLError``) when the push fails.
    """
    pushadd_to_gateway(
        gateway,
        job=JOB_NAME,
        registry=registry,
        grouping_key={
            **({"namespace": namespace} if namespace else {}),
            "pipeline": pipeline,
            "collection": collection,
        },
        timeout=timeout,
    )


# ----------------------------------------------------------------------------------- RagPipeline status


def status_patch(result: JobResult) -> dict[str, Any]:
    """The JSON merge patch that sets the RagPipeline's ``status.consistency`` from a run.

    Figures describe the final state; ``repaired`` counts the points the repair upserted or deleted (0
    without repair); ``lastRunTime`` is the run's start (RFC 3339, UTC).
    """
    final = result.final
    return {
        "status": {
            "consistency": {
                "overlapAtK": final.overlap_at_k,
                "k": final.k,
                "sampled": final.sampled,
                "qdrantPoints": final.qdrant_count,
                "postgresRows": final.postgres_count,
                "missing": len(final.missing_ids),
                "orphans": len(final.orphan_ids),
                "repaired": result.repaired_points,
                "lastRunTime": rfc3339(result.started_at),
                "result": result.outcome.value,
            }
        }
    }


def write_status(patch: dict[str, Any], *, namespace: str, name: str, api_client: Any = None) -> None:
    """Merge-patch the status subresource of RagPipeline ``namespace/name``: with the pod's service account
    (needs RBAC ``patch`` on ``ragpipelines/status``), or through ``api_client`` when one is given."""
    from kubernetes import client, config

    if api_client is None:
        config.load_incluster_config()
    api = client.CustomObjectsApi(api_client)
    api.patch_namespaced_custom_object_status(
        RAGPIPELINE_GROUP,
        RAGPIPELINE_VERSION,
        namespace,
        RAGPIPELINE_PLURAL,
        name,
        patch,
        # Explicit: older clients picked JSON Patch for custom objects, which a dict body is not.
        _content_type="application/merge-patch+json",
        _request_timeout=STATUS_TIMEOUT_SECONDS,
    )


def in_cluster(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process runs in a Kubernetes pod (the kubelet sets KUBERNETES_SERVICE_HOST)."""
    return bool((os.environ if environ is None else environ).get("KUBERNETES_SERVICE_HOST"))


# --------------------------------------------------------------------------------------------- the job


def consistency_config(base: ConsistencyConfig, **overrides: Any) -> ConsistencyConfig:
    """``base`` with the non-None ``overrides`` (command-line options) applied and validated.

    Raises :class:`ConfigurationError` naming the bad field.
    """
    changes = {key: value for key, value in overrides.items() if value is not None}
    try:
        return ConsistencyConfig.model_validate({**base.model_dump(), **changes})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigurationError(f"invalid configuration: consistency.{where}: {first['msg']}") from None


def load_settings() -> FaroSettings:
    """The FARO_* settings, checked for what this job needs. Raises :class:`ConfigurationError`."""
    try:
        settings = FaroSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigurationError(f"invalid configuration: {where}: {first['msg']}") from None
    except ValueError as exc:  # e.g. a nested section given as malformed JSON
        raise ConfigurationError(f"invalid configuration: {' '.join(str(exc).split())}") from None
    if settings.qdrant.path == ":memory:":
        raise ConfigurationError(
            "qdrant is an in-memory store, empty in every run: set FARO_QDRANT__URL "
            "(or FARO_QDRANT__PATH to a local-mode folder)"
        )
    return settings


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def connect_stores(settings: FaroSettings) -> tuple[PgVectorStore, QdrantStore]:
    """The collection's two stores, opened read-only: unlike ``store_factory.open_stores``, neither the
    schema nor the Qdrant collection is created (a missing collection is drift to report, or to rebuild
    with repair).

    Postgres is probed with one direct connection first, so an unreachable server fails within
    ``POSTGRES_CONNECT_TIMEOUT_SECONDS`` rather than the pool's timeout. Raises :class:`StoreUnavailable`.
    """
    dsn = settings.postgres.dsn.get_secret_value()
    try:
        with psycopg.connect(dsn, connect_timeout=POSTGRES_CONNECT_TIMEOUT_SECONDS):
            pass
    except psycopg.Error as exc:
        raise StoreUnavailable(f"cannot reach PostgreSQL: {_one_line(exc)}") from exc
    pg = PgVectorStore(settings.postgres, settings.collection)
    try:
        qdrant = QdrantStore(settings.qdrant, settings.collection)
    except (RuntimeError, OSError, ValueError) as exc:  # local mode: folder locked or unusable
        pg.close()
        raise StoreUnavailable(f"cannot open Qdrant: {_one_line(exc)}") from exc
    return pg, qdrant


def _checked_run(
    pg: PgVectorStore, qdrant: QdrantStore, config: ConsistencyConfig, qdrant_location: str
) -> JobResult:
    """:func:`run_consistency`, with store failures turned into :class:`StoreUnavailable`."""
    try:
        return run_consistency(pg, qdrant, config)
    except psycopg.Error as exc:
        raise StoreUnavailable(f"cannot read PostgreSQL: {_one_line(exc)}") from exc
    except (QdrantApiException, httpx.HTTPError, OSError) as exc:
        raise StoreUnavailable(f"cannot read Qdrant at {qdrant_location}: {_one_line(exc)}") from exc


def publish(
    result: JobResult, settings: FaroSettings, environ: Mapping[str, str] | None = None
) -> dict[str, Publication]:
    """Push the metrics and write the RagPipeline status, as configured; failures are logged, not raised."""
    config, pipeline, collection = settings.consistency, settings.pipeline, settings.collection.name
    publications: dict[str, Publication] = {}

    if config.pushgateway_url:
        try:
            push_metrics(
                metrics_registry(result),
                config.pushgateway_url,
                pipeline=pipeline,
                collection=collection,
                namespace=config.namespace,
            )
            publications["pushgateway"] = Publication("done", config.pushgateway_url)
        except (OSError, ValueError) as exc:
            log.error("cannot push metrics to %s: %s", config.pushgateway_url, _one_line(exc))
            publications["pushgateway"] = Publication("failed", f"{config.pushgateway_url}: {_one_line(exc)}")
    else:
        publications["pushgateway"] = Publication("skipped", "consistency.pushgateway_url is not set")

    if not in_cluster(environ):
        publications["status"] = Publication("skipped", "not running in Kubernetes")
    elif not config.namespace:
        publications["status"] = Publication("skipped", "consistency.namespace is not set")
    else:
        target = f"{RAGPIPELINE_PLURAL}.{RAGPIPELINE_GROUP}/{pipeline} in namespace {config.namespace}"
        try:
            write_status(status_patch(result), namespace=config.namespace, name=pipeline)
            publications["status"] = Publication("done", target)
        except Exception as exc:  # the client raises ApiException, ConfigException, urllib3 errors, ...
            log.error("cannot write the status of %s: %s", target, _one_line(exc))
            publications["status"] = Publication("failed", f"{target}: {_one_line(exc)}")
    return publications


def run_job(
    settings: FaroSettings,
    config: ConsistencyConfig | None = None,
    *,
    id_limit: int = ID_LIMIT,
    environ: Mapping[str, str] | None = None,
) -> JobOutcome:
    """Open the stores from ``settings``, run the check (and repair), publish, and close the stores.

    ``config`` overrides ``settings.consistency`` (the command-line options). The exit code is DRIFT when
    the stores disagree, else PUBLISH_FAILED when a configured publication failed, else OK. Raises
    :class:`StoreUnavailable` when a store cannot be reached (nothing is published then).
    """
    config = config or settings.consistency
    settings = settings.model_copy(update={"consistency": config})
    pg, qdrant = connect_stores(settings)
    try:
        result = _checked_run(pg, qdrant, config, settings.qdrant.url or str(settings.qdrant.path))
    finally:
        qdrant.close()
        pg.close()
    publications = publish(result, settings, environ)
    document = result_document(
        result, pipeline=settings.pipeline, collection=settings.collection.name, id_limit=id_limit
    )
    document["published"] = {target: p.to_dict() for target, p in publications.items()}
    exit_code = result.exit_code
    if exit_code is ExitCode.OK and any(p.state == "failed" for p in publications.values()):
        exit_code = ExitCode.PUBLISH_FAILED
    document["exit_code"] = int(exit_code)
    return JobOutcome(result, document, exit_code, publications)
