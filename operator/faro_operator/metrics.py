"""The operator's own Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
