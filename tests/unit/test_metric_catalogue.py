"""docs/metrics.md and the metrics the code defines agree: same names, types and label names."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.metrics import MetricWrapperBase

import faro_operator.metrics as operator_metrics
import faro_workloads.core.metrics as workload_metrics
from faro_workloads.consistency_job import JobResult, metrics_registry
from faro_workloads.core.census import CensusCounts, CensusReport
from faro_workloads.core.consistency import ConsistencyReport

from support.metric_catalogue import catalogue_rows

Entry = tuple[str, tuple[str, ...]]


def catalogue() -> dict[str, Entry]:
    entries: dict[str, Entry] = {}
    for name, row in catalogue_rows():
        labels = tuple(sorted(re.findall(r"`([a-z_]+)`", row.labels)))
        assert name not in entries, f"{name} is listed twice"
        entries[name] = (row.type, labels)
    return entries


def exported_name(metric: MetricWrapperBase) -> str:
    return f"{metric._name}_total" if metric._type == "counter" else metric._name


def code_metrics() -> dict[str, Entry]:
    found: dict[str, Entry] = {}
    for module in (workload_metrics, operator_metrics):
        for metric in vars(module).values():
            if isinstance(metric, MetricWrapperBase):
                found[exported_name(metric)] = (metric._type, tuple(sorted(metric._labelnames)))
    for missing in ([], [uuid.uuid4()]):  # a consistent run and a drifted one (some gauges only on success)
        report = ConsistencyReport(
            k=10,
            sampled=5,
            overlap_at_k=1.0,
            postgres_count=3,
            qdrant_count=3,
            missing_ids=missing,
            orphan_ids=[],
            outbox_pending=0,
        )
        job = JobResult(
            before=report,
            repair=None,
            after=None,
            min_overlap=0.9,
            started_at=datetime.now(UTC),
            duration_seconds=0.1,
            censuses=(CensusReport(CensusCounts(3, 3, 0, 0, 0, 0, 0)),)
            if missing
            else (),  # with, without S3
        )
        for family in metrics_registry(job).collect():
            labels = {label for sample in family.samples for label in sample.labels}
            found[family.name] = (family.type, tuple(sorted(labels)))
    return found


def test_every_metric_in_the_code_is_documented_and_vice_versa() -> None:
    documented, defined = catalogue(), code_metrics()
    assert set(defined) - set(documented) == set(), "metrics missing from docs/metrics.md"
    assert set(documented) - set(defined) == set(), "docs/metrics.md lists metrics the code does not define"
    for name, entry in defined.items():
        assert documented[name] == entry, f"{name}: docs say {documented[name]}, code says {entry}"


def test_names_follow_prometheus_conventions() -> None:
    for name, (kind, labels) in code_metrics().items():
        assert name.startswith("faro_"), name
        assert (kind == "counter") == name.endswith("_total"), name
        assert not re.search(r"_(ms|milliseconds|minutes|bytes_total_total)$", name), name
        assert "le" not in labels and "quantile" not in labels, name


# The labelled counters whose series each component creates at 0 when it starts, with their label values.
EXPOSED_VALUES = [
    (workload_metrics.DOCUMENTS_INGESTED, workload_metrics.DOCUMENT_RESULTS),
    (workload_metrics.INGEST_ERRORS, workload_metrics.INGEST_ERROR_REASONS),
    (workload_metrics.QUERIES, workload_metrics.QUERY_BACKENDS),
    (workload_metrics.QUERY_FALLBACKS, workload_metrics.FALLBACK_REASONS),
    (workload_metrics.SQS_MESSAGES, workload_metrics.SQS_RESULTS),
    (workload_metrics.CHUNK_OBJECTS_WRITTEN, workload_metrics.CHUNK_OBJECT_RESULTS),
]


def test_the_label_values_created_at_start_are_the_documented_ones() -> None:
    """docs/metrics.md lists each such counter's values in parentheses after its label."""
    rows = dict(catalogue_rows())
    for counter, values in EXPOSED_VALUES:
        documented = re.search(r"\(([^)]*)\)", rows[exported_name(counter)].labels)
        assert documented, f"{exported_name(counter)}: no label values in docs/metrics.md"
        assert tuple(v.strip() for v in documented[1].split(",")) == values, exported_name(counter)


def test_expose_label_values_creates_zero_series_and_keeps_counts() -> None:
    registry = CollectorRegistry()
    counter = Counter("faro_example", "Example.", ["result"], registry=registry)
    counter.labels("ok").inc(3)
    workload_metrics.expose_label_values(counter, ("ok", "failed"))
    assert registry.get_sample_value("faro_example_total", {"result": "ok"}) == 3
    assert registry.get_sample_value("faro_example_total", {"result": "failed"}) == 0


def test_the_operator_creates_every_documented_reconcile_series() -> None:
    operator_metrics.expose_reconcile_series()
    cell = dict(catalogue_rows())["faro_operator_reconciles_total"].labels
    kinds, results = (
        tuple(v.strip() for v in group.split(",")) for group in re.findall(r"\(([^)]*)\)", cell)
    )
    assert sorted(results) == sorted(operator_metrics.RECONCILE_RESULTS)
    for kind in kinds:
        for result in results:
            labels = {"kind": kind, "result": result}
            assert REGISTRY.get_sample_value("faro_operator_reconciles_total", labels) is not None, labels
