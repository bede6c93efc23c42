"""What a dashboard is made of (dashboards, rows, panels, queries), the thresholds the panels share with the
alert rules, and the helpers that write PromQL the same way everywhere."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SCHEMA_VERSION = 36  # grafana-foundation-sdk's Dashboard default (Grafana 10.1 schema)
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24

# Thresholds that mirror monitoring/prometheus-rules.yaml and the defaults (docs/runbooks.md).
INGEST_LAG_MAX_SECONDS = 900
"""The FaroIngestLagging threshold (monitoring/prometheus-rules.yaml)."""
OUTBOX_PENDING_MAX = 100
EMBEDDER_ERROR_RATIO_MAX = 0.05
QUERY_P99_MAX_SECONDS = 1
CONSISTENCY_STALE_SECONDS = 3600
DEFAULT_MIN_OVERLAP = 0.95  # RagPipeline spec.consistency.minOverlap default

Json = dict[str, Any]


@dataclass(frozen=True)
class Target:
    expr: str
    legend: str


@dataclass(frozen=True)
class PanelSpec:
    title: str
    description: str
    targets: tuple[Target, ...]
    unit: str
    kind: str = "timeseries"  # timeseries | stat
    width: int = 8
    height: int = 8
    thresholds: tuple[tuple[str, float | None], ...] = (("green", None),)
    threshold_style: str = "off"  # timeseries: off | line | dashed | area | line+area
    min: float | None = 0
    max: float | None = None
    decimals: int | None = None
    overrides: tuple[Json, ...] = ()
    stack: bool = False


@dataclass(frozen=True)
class RowSpec:
    title: str
    panels: tuple[PanelSpec, ...]


@dataclass(frozen=True)
class DashboardSpec:
    stem: str
    uid: str
    title: str
    description: str
    variable_metric: str  # the metric whose label values fill the namespace/pipeline variables
    rows: tuple[RowSpec, ...]
    with_pipeline: bool = True
    links: tuple[str, ...] = field(default=())


def t(expr: str, legend: str) -> Target:
    return Target(" ".join(expr.split()), legend)


def count_stat(title: str, description: str, targets: tuple[Target, ...], width: int) -> PanelSpec:
    """A stat panel of whole numbers (counts)."""
    return PanelSpec(title, description, targets, "short", kind="stat", width=width, decimals=0)


# --- label matchers ------------------------------------------------------------------------------------

SEL = 'namespace=~"$namespace", pipeline=~"$pipeline"'
NS = 'namespace=~"$namespace"'
RI = "$__rate_interval"
SQS_ERRORS = 'result=~"transient_error|poison_retry|dead_lettered"'  # as in FaroEmbedderErrorRateHigh


def rate(metric: str, extra: str = "", selector: str = SEL) -> str:
    matchers = f"{selector}, {extra}" if extra else selector
    return f"rate({metric}{{{matchers}}}[{RI}])"


def quantile(q: float, metric: str, by: str, selector: str = SEL) -> str:
    return f"histogram_quantile({q}, sum by (le, {by}) ({rate(metric + '_bucket', selector=selector)}))"


def dashed(regex: str, color: str) -> Json:
    """An override drawing the series whose name matches ``regex`` as a dashed line in ``color``."""
    return {
        "matcher": {"id": "byRegexp", "options": regex},
        "properties": [
            {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
            {"id": "custom.fillOpacity", "value": 0},
            {"id": "color", "value": {"mode": "fixed", "fixedColor": color}},
        ],
    }
