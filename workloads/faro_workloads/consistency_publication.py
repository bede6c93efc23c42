"""Publishing a consistency run: gauges pushed to a Prometheus Pushgateway when
``consistency.pushgateway_url`` is set (:func:`metrics_registry`, :func:`push_metrics`), and
``status.consistency`` of the owning RagPipeline when running inside Kubernetes (:func:`status_patch`,
:func:`write_status`). :func:`publish` does both, as configured.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from prometheus_client import CollectorRegistry, Gauge, pushadd_to_gateway

from faro_workloads.consistency_result import JobResult, rfc3339
from faro_workloads.contract.api import GROUP, RAGPIPELINE, VERSION
from faro_workloads.contract.settings import FaroSettings
from faro_workloads.contract.status import CensusResult, ConsistencyResult, consistency_patch
from faro_workloads.core.census import GAPS, CensusReport
from faro_workloads.errors import one_line

log = logging.getLogger(__name__)

JOB_NAME = "faro-consistency"
"""The Pushgateway ``job`` label of every push."""
PUSH_TIMEOUT_SECONDS = 10.0
STATUS_TIMEOUT_SECONDS = 10.0


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
    if result.censuses:
        _census_gauges(result.censuses, gauge)
    if result.ok:
        gauge("faro_consistency_last_success_timestamp_seconds", "Unix time the last ok run started.").set(
            result.started_at.timestamp()
        )
    return registry


def _census_gauges(censuses: Sequence[CensusReport], gauge: Any) -> None:
    """The ``faro_census_*`` gauges, one series per census scope (chunk_objects, source)."""
    acknowledged = gauge(
        "faro_census_acknowledged_documents",
        "Documents acknowledged: chunk objects in S3, or a bucket source's documents.",
        ("scope",),
    )
    gaps = gauge(
        "faro_census_gap_documents", "Documents the last census found in each gap.", ("scope", "gap")
    )
    repaired = gauge(
        "faro_census_repaired_documents",
        "Documents the last census sent again or deleted.",
        ("scope", "action"),
    )
    complete = gauge("faro_census_complete", "1 when the last census left no gap, else 0.", ("scope",))
    for census in censuses:
        scope = census.scope.name
        acknowledged.labels(scope=scope).set(census.counts.acknowledged)
        for name in (*GAPS, "in_flight", "unverified"):
            gaps.labels(scope=scope, gap=name).set(census.gap(name))
        repaired.labels(scope=scope, action="requeued").set(
            census.requeued_missing + census.requeued_unverified
        )
        repaired.labels(scope=scope, action="deleted").set(census.orphans_deleted)
        complete.labels(scope=scope).set(int(census.complete))


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
    """The JSON merge patch that sets the RagPipeline's ``status.consistency`` from a run (the contract's
    :class:`~faro_workloads.contract.status.ConsistencyResult`).

    Figures describe the final state; ``repaired`` counts the points the repair upserted or deleted (0
    without repair); ``lastRunTime`` is the run's start (RFC 3339, UTC).
    """
    final = result.final
    return consistency_patch(
        ConsistencyResult(
            overlap_at_k=final.overlap_at_k,
            k=final.k,
            sampled=final.sampled,
            qdrant_points=final.qdrant_count,
            postgres_rows=final.postgres_count,
            missing=len(final.missing_ids),
            orphans=len(final.orphan_ids),
            repaired=result.repaired_points,
            last_run_time=rfc3339(result.started_at),
            result=result.outcome,
            **({"census": _census_status(result.census)} if result.census else {}),
            **({"source_sync": _census_status(result.source_sync)} if result.source_sync else {}),
        )
    )


def _census_status(census: CensusReport) -> CensusResult:
    return CensusResult(
        acknowledged=census.counts.acknowledged,
        missing_in_postgres=census.gap("missing_in_postgres"),
        missing_in_qdrant=census.gap("missing_in_qdrant"),
        orphans=census.gap("orphans"),
        failed=census.gap("failed"),
        in_flight=census.gap("in_flight"),
        requeued=census.requeued_missing + census.requeued_unverified,
        orphans_deleted=census.orphans_deleted,
        complete=census.complete,
    )


def write_status(patch: dict[str, Any], *, namespace: str, name: str, api_client: Any = None) -> None:
    """Merge-patch the status subresource of RagPipeline ``namespace/name``: with the pod's service account
    (needs RBAC ``patch`` on the RagPipeline's status subresource), or through ``api_client`` when one is
    given."""
    from kubernetes import client, config

    if api_client is None:
        config.load_incluster_config()
    api = client.CustomObjectsApi(api_client)
    api.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        RAGPIPELINE.plural,
        name,
        patch,
        # Explicit: older clients picked JSON Patch for custom objects, which a dict body is not.
        _content_type="application/merge-patch+json",
        _request_timeout=STATUS_TIMEOUT_SECONDS,
    )


def in_cluster(environ: Mapping[str, str] | None = None) -> bool:
    """Whether this process runs in a Kubernetes pod (the kubelet sets KUBERNETES_SERVICE_HOST)."""
    return bool((os.environ if environ is None else environ).get("KUBERNETES_SERVICE_HOST"))


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
            log.error("cannot push metrics to %s: %s", config.pushgateway_url, one_line(exc))
            publications["pushgateway"] = Publication("failed", f"{config.pushgateway_url}: {one_line(exc)}")
    else:
        publications["pushgateway"] = Publication("skipped", "consistency.pushgateway_url is not set")

    if not in_cluster(environ):
        publications["status"] = Publication("skipped", "not running in Kubernetes")
    elif not config.namespace:
        publications["status"] = Publication("skipped", "consistency.namespace is not set")
    else:
        target = f"{RAGPIPELINE.crd_name}/{pipeline} in namespace {config.namespace}"
        try:
            write_status(status_patch(result), namespace=config.namespace, name=pipeline)
            publications["status"] = Publication("done", target)
        except Exception as exc:  # the client raises ApiException, ConfigException, urllib3 errors, ...
            log.error("cannot write the status of %s: %s", target, one_line(exc))
            publications["status"] = Publication("failed", f"{target}: {one_line(exc)}")
    return publications
