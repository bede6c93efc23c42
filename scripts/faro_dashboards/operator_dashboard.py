"""The operator dashboard: reconciles, their durations, the children applied."""

from __future__ import annotations

from faro_dashboards.model import NS, DashboardSpec, PanelSpec, RowSpec, quantile, rate, t

OPERATOR = DashboardSpec(
    stem="faro-operator",
    uid="faro-operator",
    title="Faro / Operator",
    description="The Faro operator: reconciles of Collections and RagPipelines, errors, durations, applies.",
    variable_metric="faro_operator_reconciles_total",
    with_pipeline=False,
    rows=(
        RowSpec(
            "Reconciles",
            (
                PanelSpec(
                    "Reconciles",
                    "Reconciles per second, by kind (Collection, RagPipeline) and result (ok, waiting, "
                    "error). faro_operator_reconciles_total.",
                    (
                        t(
                            f"sum by (kind, result) ({rate('faro_operator_reconciles_total', selector=NS)})",
                            "{{kind}} {{result}}",
                        ),
                    ),
                    "ops",
                    width=12,
                ),
                PanelSpec(
                    "Reconcile errors",
                    "Reconciles per second that raised (kopf retries them), by kind; zero when none did. "
                    'faro_operator_reconciles_total{result="error"}.',
                    (
                        t(
                            "sum by (kind) ("
                            + rate("faro_operator_reconciles_total", 'result="error"', selector=NS)
                            + ")",
                            "{{kind}}",
                        ),
                    ),
                    "ops",
                    width=12,
                ),
                PanelSpec(
                    "Reconciles in range",
                    "Reconciles over the dashboard's time range, by kind and result. "
                    "faro_operator_reconciles_total.",
                    (
                        t(
                            "sum by (kind, result) (increase(faro_operator_reconciles_total{"
                            + NS
                            + "}[$__range]))",
                            "{{kind}} {{result}}",
                        ),
                    ),
                    "short",
                    kind="stat",
                    width=24,
                    height=5,
                    decimals=0,
                ),
            ),
        ),
        RowSpec(
            "Duration",
            (
                PanelSpec(
                    "Reconcile duration",
                    "p50, p95 and p99 duration of one reconcile, by kind. "
                    "faro_operator_reconcile_duration_seconds.",
                    tuple(
                        t(
                            quantile(q, "faro_operator_reconcile_duration_seconds", "kind", selector=NS),
                            f"{{{{kind}}}} p{round(q * 100)}",
                        )
                        for q in (0.5, 0.95, 0.99)
                    ),
                    "s",
                    width=12,
                ),
                PanelSpec(
                    "Mean reconcile duration",
                    "Mean duration of one reconcile, by kind. faro_operator_reconcile_duration_seconds.",
                    (
                        t(
                            "sum by (kind) ("
                            + rate("faro_operator_reconcile_duration_seconds_sum", selector=NS)
                            + ") / sum by (kind) ("
                            + rate("faro_operator_reconcile_duration_seconds_count", selector=NS)
                            + ")",
                            "{{kind}}",
                        ),
                    ),
                    "s",
                    width=12,
                ),
            ),
        ),
        RowSpec(
            "Applied children",
            (
                PanelSpec(
                    "Child objects applied",
                    "Child objects (Deployments, Services, CronJobs, ...) the operator applied per second "
                    "with server-side apply, by kind. faro_operator_children_applied_total.",
                    (
                        t(
                            f"sum by (kind) ({rate('faro_operator_children_applied_total', selector=NS)})",
                            "{{kind}}",
                        ),
                    ),
                    "ops",
                    width=24,
                    stack=True,
                ),
            ),
        ),
    ),
)
