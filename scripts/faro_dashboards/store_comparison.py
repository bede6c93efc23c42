"""The store comparison dashboard: query latency, fallbacks, store operations and points, Qdrant beside
PostgreSQL."""

from __future__ import annotations

from faro_dashboards.model import (
    QUERY_P99_MAX_SECONDS,
    SEL,
    DashboardSpec,
    PanelSpec,
    RowSpec,
    count_stat,
    quantile,
    rate,
    t,
)


def _query_latency(q: float) -> PanelSpec:
    name = f"p{round(q * 100)}"
    return PanelSpec(
        f"Query latency {name}",
        f"{name} end-to-end query latency, by the store that answered (qdrant, or postgres on fallback)."
        + (
            f" The line is the p99 alert threshold ({QUERY_P99_MAX_SECONDS} s, FaroQueryLatencyHigh)."
            if q == 0.99
            else ""
        )
        + " faro_query_seconds.",
        (t(quantile(q, "faro_query_seconds", "backend"), "{{backend}}"),),
        "s",
        thresholds=(("green", None), ("red", QUERY_P99_MAX_SECONDS)) if q == 0.99 else (("green", None),),
        threshold_style="dashed" if q == 0.99 else "off",
    )


STORE_COMPARISON = DashboardSpec(
    stem="faro-store-comparison",
    uid="faro-store-comparison",
    title="Faro / Store comparison",
    description="Qdrant and PostgreSQL+pgvector side by side: query latency, fallbacks, store operations "
    "and points.",
    variable_metric="faro_queries_total",
    rows=(
        RowSpec(
            "Query latency",
            (
                _query_latency(0.5),
                _query_latency(0.95),
                _query_latency(0.99),
                PanelSpec(
                    "Queries answered",
                    "Queries answered per second, by the store that answered. faro_queries_total.",
                    (t(f"sum by (backend) ({rate('faro_queries_total')})", "{{backend}}"),),
                    "ops",
                    width=8,
                    stack=True,
                ),
                PanelSpec(
                    "Queries by search mode",
                    "Queries answered per second, by how the chunks were found: dense, lexical or hybrid "
                    "(a generation without lexical terms answers by vector). faro_query_modes_total.",
                    (t(f"sum by (mode) ({rate('faro_query_modes_total')})", "{{mode}}"),),
                    "ops",
                    width=8,
                    stack=True,
                ),
                PanelSpec(
                    "Mean query latency",
                    "Mean end-to-end query latency, by the store that answered. faro_query_seconds.",
                    (
                        t(
                            f"sum by (backend) ({rate('faro_query_seconds_sum')}) "
                            f"/ sum by (backend) ({rate('faro_query_seconds_count')})",
                            "{{backend}}",
                        ),
                    ),
                    "s",
                    width=8,
                ),
            ),
        ),
        RowSpec(
            "Fallbacks",
            (
                PanelSpec(
                    "Fallbacks",
                    "Queries per second answered by PostgreSQL instead of Qdrant, by reason (error, "
                    "timeout, circuit_open). faro_query_fallbacks_total.",
                    (t(f"sum by (reason) ({rate('faro_query_fallbacks_total')})", "{{reason}}"),),
                    "ops",
                    width=12,
                    stack=True,
                ),
                PanelSpec(
                    "Fallback share",
                    "Share of queries answered by the PostgreSQL fallback over the dashboard's time range. "
                    "faro_query_fallbacks_total / faro_queries_total.",
                    (
                        t(
                            "sum(increase(faro_query_fallbacks_total{" + SEL + "}[$__range]))"
                            " / sum(increase(faro_queries_total{" + SEL + "}[$__range]))",
                            "fallback share",
                        ),
                    ),
                    "percentunit",
                    kind="stat",
                    width=6,
                    thresholds=(("green", None), ("orange", 0.01), ("red", 0.1)),
                    decimals=1,
                ),
                count_stat(
                    "Queries by store",
                    "Queries answered by each store over the dashboard's time range. faro_queries_total.",
                    (
                        t(
                            "sum by (backend) (increase(faro_queries_total{" + SEL + "}[$__range]))",
                            "{{backend}}",
                        ),
                    ),
                    width=6,
                ),
            ),
        ),
        RowSpec(
            "Store operations",
            (
                PanelSpec(
                    "Store operation latency p95",
                    "p95 latency of one store operation, by backend (postgres, qdrant, s3). "
                    "faro_store_operation_seconds.",
                    (t(quantile(0.95, "faro_store_operation_seconds", "backend"), "{{backend}}"),),
                    "s",
                    width=12,
                ),
                PanelSpec(
                    "Store operations",
                    "Store operations per second, by backend and operation. faro_store_operation_seconds.",
                    (
                        t(
                            f"sum by (backend, operation) ({rate('faro_store_operation_seconds_count')})",
                            "{{backend}} {{operation}}",
                        ),
                    ),
                    "ops",
                    width=12,
                ),
            ),
        ),
        RowSpec(
            "Points per store",
            (
                PanelSpec(
                    "Points per store",
                    "Points held by Qdrant and PostgreSQL, as the last consistency run counted them (after "
                    "repair when it ran). faro_consistency_points.",
                    (t(f"max by (store) (faro_consistency_points{{{SEL}}})", "{{store}}"),),
                    "short",
                    width=16,
                    decimals=0,
                ),
                PanelSpec(
                    "Point count difference",
                    "Qdrant points minus PostgreSQL points at the last consistency run; not 0 means the "
                    "stores disagree (see Faro / Consistency). faro_consistency_points.",
                    (
                        t(
                            f'sum(faro_consistency_points{{{SEL}, store="qdrant"}}) '
                            f'- sum(faro_consistency_points{{{SEL}, store="postgres"}})',
                            "qdrant - postgres",
                        ),
                    ),
                    "short",
                    kind="stat",
                    width=8,
                    min=None,
                    thresholds=(("red", None), ("green", 0), ("red", 1)),
                    decimals=0,
                ),
            ),
        ),
    ),
)
