"""The operator's own Prometheus metrics."""

from __future__ import annotations

from collections.abc import Callable
from itertools import product

from prometheus_client import Counter, Histogram

from faro_operator.builders.owner import COLLECTION_KIND, RAGPIPELINE_KIND

RECONCILE_RESULTS = ("ok", "waiting", "error")

RECONCILES = Counter(
    "faro_operator_reconciles_total",
    "Reconciles by resource kind and result (ok, error, waiting).",
    ["kind", "result"],
)
RECONCILE_SECONDS = Histogram(
    "faro_operator_reconcile_duration_seconds",
    "Duration of one reconcile, by resource kind.",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CHILDREN_APPLIED = Counter(
    "faro_operator_children_applied_total", "Child objects applied, by kind.", ["kind"]
)


def measured_reconcile(kind: str, reconcile: Callable[[], str]) -> None:
    """Run one reconcile, timing it and counting its result; an exception counts as ``error`` and propagates
    (kopf retries it)."""
    result = "error"
    try:
        with RECONCILE_SECONDS.labels(kind).time():
            result = reconcile()
    finally:
        RECONCILES.labels(kind, result).inc()


def expose_reconcile_series() -> None:
    """Create every (kind, result) series of :data:`RECONCILES` at 0, so the first error of a kind shows in
    rate()."""
    for kind, result in product((COLLECTION_KIND, RAGPIPELINE_KIND), RECONCILE_RESULTS):
        RECONCILES.labels(kind, result)
