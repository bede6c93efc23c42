"""Write the Grafana dashboards of ``monitoring/dashboards/`` (the JSON files are generated: edit this file).

    .venv/bin/python scripts/generate_dashboards.py          # rewrite the JSON files
    .venv/bin/python scripts/generate_dashboards.py --check  # exit 1 when a file differs from its source

``tests/unit/test_dashboards.py`` fails when the JSON files and this source disagree, and checks the
dashboards (schema round-trip through grafana-foundation-sdk, layout, queries, metric names).

Conventions: metrics and labels from ``docs/metrics.md`` only; every query filters by
``namespace=~"$namespace"`` and (except on the operator dashboard, whose metrics have no pipeline label)
``pipeline=~"$pipeline"``; rates use ``$__rate_interval``. Error panels need no ``or vector(0)`` fallback:
the services create every known label value of their counters at 0 when they start, so "no errors" is a
zero line and an empty panel means "no data". Keys are limited to what the Grafana 10.1 schema of
grafana-foundation-sdk knows (``schemaVersion`` 36; Grafana migrates it on load).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
OUTPUT_DIR = REPO_ROOT / "monitoring" / "dashboards"

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


# --- the dashboards ------------------------------------------------------------------------------------

PIPELINE_OVERVIEW = DashboardSpec(
    stem="faro-pipeline-overview",
    uid="faro-pipeline-overview",
    title="Faro / Pipeline overview",
    description="Ingest throughput, SQS queue, PostgreSQL outbox and errors of Faro RAG pipelines.",
    variable_metric="faro_chunks_written_total",
    rows=(
        RowSpec(
            "Ingest",
            (
                PanelSpec(
                    "Documents ingested",
                    "Documents handled by ingest per second, by result (created, replaced, unchanged, "
                    "deleted). faro_documents_ingested_total.",
                    (t(f"sum by (result) ({rate('faro_documents_ingested_total')})", "{{result}}"),),
                    "ops",
                    stack=True,
                ),
                PanelSpec(
                    "Chunks written",
                    "Chunks committed to PostgreSQL per second, per pipeline. faro_chunks_written_total.",
                    (t(f"sum by (pipeline) ({rate('faro_chunks_written_total')})", "{{pipeline}}"),),
                    "ops",
                ),
                PanelSpec(
                    "Texts embedded",
                    "Texts sent to the embedding model per second (ingest and queries), by model. "
                    "faro_embedded_texts_total.",
                    (t(f"sum by (model) ({rate('faro_embedded_texts_total')})", "{{model}}"),),
                    "ops",
                ),
                PanelSpec(
                    "Chunk objects written to S3",
                    "Chunk objects the chunking service wrote to S3 per second; unchanged objects (same "
                    "content hash) are not rewritten. faro_chunk_objects_written_total.",
                    (t(f"sum by (result) ({rate('faro_chunk_objects_written_total')})", "{{result}}"),),
                    "ops",
                    width=12,
                    stack=True,
                ),
                PanelSpec(
                    "Embedding request latency",
                    "p50 and p95 latency of one embeddings request (one batch), by model. "
                    "faro_embed_request_seconds.",
                    (
                        t(quantile(0.5, "faro_embed_request_seconds", "model"), "{{model}} p50"),
                        t(quantile(0.95, "faro_embed_request_seconds", "model"), "{{model}} p95"),
                    ),
                    "s",
                    width=12,
                ),
            ),
        ),
        RowSpec(
            "Queue and outbox",
            (
                PanelSpec(
                    "SQS queue depth",
                    "Approximate visible messages in the event queue (main) and its dead-letter queue, as "
                    "the embedding engine last read them. Anything in the dead-letter queue needs a look "
                    "(alert FaroDeadLetterQueueNotEmpty). faro_sqs_queue_messages.",
                    (t(f"max by (queue) (faro_sqs_queue_messages{{{SEL}}})", "{{queue}}"),),
                    "short",
                    decimals=0,
                    overrides=(
                        {
                            "matcher": {"id": "byName", "options": "dead_letter"},
                            "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": "red"}}],
                        },
                    ),
                ),
                PanelSpec(
                    "SQS messages handled",
                    "SQS messages the embedding engine handled per second, by result, and messages in "
                    "flight. faro_sqs_messages_total, faro_embedder_inflight_messages.",
                    (
                        t(f"sum by (result) ({rate('faro_sqs_messages_total')})", "{{result}}"),
                        t(
                            f"sum by (pipeline) (faro_embedder_inflight_messages{{{SEL}}})",
                            "{{pipeline}} in flight",
                        ),
                    ),
                    "ops",
                    overrides=(
                        {
                            "matcher": {"id": "byRegexp", "options": ".* in flight"},
                            "properties": [{"id": "unit", "value": "short"}],
                        },
                    ),
                ),
                PanelSpec(
                    "Outbox backlog",
                    f"Qdrant operations waiting in the PostgreSQL outbox, per pipeline. The line is the "
                    f"alert threshold ({OUTBOX_PENDING_MAX}, FaroOutboxBacklogGrowing). faro_outbox_pending.",
                    (t(f"max by (pipeline) (faro_outbox_pending{{{SEL}}})", "{{pipeline}}"),),
                    "short",
                    thresholds=(("green", None), ("red", OUTBOX_PENDING_MAX)),
                    threshold_style="dashed",
                    decimals=0,
                ),
                PanelSpec(
                    "Outbox applied",
                    "Outbox entries applied to Qdrant per second, per pipeline. faro_outbox_applied_total.",
                    (t(f"sum by (pipeline) ({rate('faro_outbox_applied_total')})", "{{pipeline}}"),),
                    "ops",
                    width=12,
                ),
                PanelSpec(
                    "Ingest lag",
                    "Age of the oldest message in the embedding engine's last receive, per pipeline: how "
                    "long an upload answered 202 waits to be embedded. The line is the alert threshold "
                    f"({INGEST_LAG_MAX_SECONDS} s, FaroIngestLagging). faro_ingest_lag_seconds.",
                    (t(f"max by (pipeline) (faro_ingest_lag_seconds{{{SEL}}})", "{{pipeline}}"),),
                    "s",
                    width=12,
                    thresholds=(("green", None), ("red", INGEST_LAG_MAX_SECONDS)),
                    threshold_style="dashed",
                ),
            ),
        ),
        RowSpec(
            "Errors",
            (
                PanelSpec(
                    "Ingest errors",
                    "Documents rejected by ingest per second (invalid document or id), per pipeline; zero "
                    "when none were. faro_ingest_errors_total.",
                    (
                        t(
                            f"sum by (pipeline) ({rate('faro_ingest_errors_total')})",
                            "{{pipeline}}",
                        ),
                    ),
                    "ops",
                ),
                PanelSpec(
                    "SQS message errors",
                    "SQS messages per second that ended in transient_error, poison_retry or dead_lettered, "
                    "per pipeline; zero when none did. faro_sqs_messages_total.",
                    (
                        t(
                            "sum by (pipeline) ("
                            + rate(
                                "faro_sqs_messages_total",
                                'result=~"transient_error|poison_retry|dead_lettered"',
                            )
                            + ")",
                            "{{pipeline}}",
                        ),
                    ),
                    "ops",
                ),
                PanelSpec(
                    "Outbox drain failures",
                    "Outbox drains per second that failed because Qdrant did, per pipeline. "
                    "faro_outbox_drain_failures_total.",
                    (
                        t(
                            f"sum by (pipeline) ({rate('faro_outbox_drain_failures_total')})",
                            "{{pipeline}}",
                        ),
                    ),
                    "ops",
                ),
                PanelSpec(
                    "SQS error ratio",
                    f"Share of SQS messages that ended in an error result over the dashboard's time range. "
                    f"Red from {EMBEDDER_ERROR_RATIO_MAX:.0%} (alert FaroEmbedderErrorRateHigh). "
                    f"faro_sqs_messages_total.",
                    (
                        t(
                            "sum(increase(faro_sqs_messages_total{"
                            + SEL
                            + f", {SQS_ERRORS}}}[$__range]))"
                            + " / sum(increase(faro_sqs_messages_total{"
                            + SEL
                            + "}[$__range]))",
                            "error ratio",
                        ),
                    ),
                    "percentunit",
                    kind="stat",
                    width=8,
                    height=6,
                    thresholds=(("green", None), ("red", EMBEDDER_ERROR_RATIO_MAX)),
                    decimals=2,
                ),
                PanelSpec(
                    "Documents rejected",
                    "Documents rejected by ingest over the dashboard's time range. faro_ingest_errors_total.",
                    (
                        t(
                            "sum(increase(faro_ingest_errors_total{" + SEL + "}[$__range]))",
                            "rejected",
                        ),
                    ),
                    "short",
                    kind="stat",
                    width=8,
                    height=6,
                    thresholds=(("green", None), ("orange", 1)),
                    decimals=0,
                ),
                PanelSpec(
                    "Query fallbacks",
                    "Queries answered by PostgreSQL instead of Qdrant over the dashboard's time range "
                    "(details on the Faro / Store comparison dashboard). faro_query_fallbacks_total.",
                    (
                        t(
                            "sum(increase(faro_query_fallbacks_total{" + SEL + "}[$__range]))",
                            "fallbacks",
                        ),
                    ),
                    "short",
                    kind="stat",
                    width=8,
                    height=6,
                    thresholds=(("green", None), ("orange", 1)),
                    decimals=0,
                ),
            ),
        ),
        RowSpec(
            "Reindex (index generations)",
            (
                PanelSpec(
                    "Reindex progress",
                    "Share of the documents the building index generation holds at their current content; 1 "
                    "when none builds (alert FaroReindexStalled when it stops rising). "
                    "faro_reindex_progress_ratio.",
                    (t(f"min by (pipeline) (faro_reindex_progress_ratio{{{SEL}}})", "{{pipeline}}"),),
                    "percentunit",
                    max=1,
                    width=6,
                ),
                PanelSpec(
                    "Backfill rate",
                    "Documents per second a backfill filled into the building generation, cleared from it "
                    "(deleted or replaced meanwhile), or could not fill (no kept text). "
                    "faro_backfill_documents_total.",
                    (
                        t(
                            f"sum by (pipeline, result) ({rate('faro_backfill_documents_total')})",
                            "{{pipeline}} {{result}}",
                        ),
                    ),
                    "ops",
                    width=6,
                ),
                PanelSpec(
                    "Embeddings saved",
                    "Share of chunk texts not sent to the model because it embedded the same text before "
                    "(the embedding cache): reused / (reused + embedded). faro_embeddings_reused_total, "
                    "faro_embedded_texts_total.",
                    (
                        t(
                            f"sum by (pipeline) ({rate('faro_embeddings_reused_total')})"
                            f" / (sum by (pipeline) ({rate('faro_embeddings_reused_total')})"
                            f" + sum by (pipeline) ({rate('faro_embedded_texts_total')}))",
                            "{{pipeline}}",
                        ),
                    ),
                    "percentunit",
                    max=1,
                    width=6,
                ),
                count_stat(
                    "Cutovers",
                    "Switches of the live index generation over the dashboard's time range: promoted, "
                    "blocked by the gate (the CutoverBlocked reason is in the logs and faro generations), "
                    "rolled back. faro_generation_cutovers_total.",
                    (
                        t(
                            "sum by (result) (increase(faro_generation_cutovers_total{"
                            + SEL
                            + "}[$__range]))",
                            "{{result}}",
                        ),
                    ),
                    width=6,
                ),
            ),
        ),
        RowSpec(
            "Access",
            (
                PanelSpec(
                    "Requests refused",
                    "Data API requests refused, by reason: no credential, an unknown key or token (401), a "
                    "scope or RBAC that does not allow the call (403), the API server not answering a review "
                    "(503), a caller past its rate limit (429). Alert FaroAuthDenialBurst above 1/s; each "
                    "refusal is also an audit line. faro_auth_denied_total (service-account reviews: "
                    "faro_auth_reviews_total, alert FaroAccessReviewsFailing).",
                    (
                        t(
                            f"sum by (pipeline, reason) ({rate('faro_auth_denied_total')})",
                            "{{pipeline}} {{reason}}",
                        ),
                    ),
                    "reqps",
                    thresholds=(("green", None), ("red", 1)),
                    threshold_style="dashed",
                    width=12,
                    stack=True,
                ),
                count_stat(
                    "API keys in force",
                    "Keys that open the data APIs now (the keys file's entries plus the admin key), lowest "
                    "over the pipeline's pods that use keys: after a rotation, the new count once every pod "
                    "has loaded it. faro_auth_keys.",
                    (t(f"min by (pipeline) (faro_auth_keys{{{SEL}}} > 0)", "{{pipeline}}"),),
                    width=6,
                ),
                count_stat(
                    "Keys file loads",
                    "Loads of the keys file since the pods started, by result: loaded (at start and after "
                    "each change, e.g. a rotated Secret) or refused (unreadable or invalid: the keys loaded "
                    "before stay in force, the log says why). faro_auth_key_reloads_total.",
                    (
                        t(
                            f"sum by (pipeline, result) (faro_auth_key_reloads_total{{{SEL}}})",
                            "{{pipeline}} {{result}}",
                        ),
                    ),
                    width=6,
                ),
            ),
        ),
    ),
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

CONSISTENCY = DashboardSpec(
    stem="faro-consistency",
    uid="faro-consistency",
    title="Faro / Consistency",
    description="What the consistency job measured and repaired: overlap@k, missing and orphan points, "
    "repairs, and the census of acknowledged documents.",
    variable_metric="faro_consistency_last_run_timestamp_seconds",
    rows=(
        RowSpec(
            "Overlap",
            (
                PanelSpec(
                    "Overlap@k",
                    "Mean overlap@k of the two stores' top-k ids at each consistency run, per pipeline and "
                    "collection, with the configured minimum (dashed): below it the job fails and "
                    "FaroConsistencyOverlapLow fires. faro_consistency_overlap_ratio, "
                    "faro_consistency_min_overlap_ratio.",
                    (
                        t(
                            f"min by (pipeline, collection) (faro_consistency_overlap_ratio{{{SEL}}})",
                            "{{pipeline}}/{{collection}} overlap@k",
                        ),
                        t(
                            f"max by (pipeline, collection) (faro_consistency_min_overlap_ratio{{{SEL}}})",
                            "{{pipeline}}/{{collection}} minimum",
                        ),
                    ),
                    "percentunit",
                    width=16,
                    max=1,
                    thresholds=(("red", None), ("green", DEFAULT_MIN_OVERLAP)),
                    overrides=(dashed(".* minimum", "red"),),
                ),
                PanelSpec(
                    "Lowest overlap@k",
                    f"The lowest overlap@k of the selected pipelines' last runs; red below the default "
                    f"minimum ({DEFAULT_MIN_OVERLAP:.0%}). faro_consistency_overlap_ratio.",
                    (t(f"min(faro_consistency_overlap_ratio{{{SEL}}})", "overlap@k"),),
                    "percentunit",
                    kind="stat",
                    width=4,
                    max=1,
                    thresholds=(("red", None), ("green", DEFAULT_MIN_OVERLAP)),
                    decimals=1,
                ),
                count_stat(
                    "k",
                    "The k of overlap@k (the number of top results compared). faro_consistency_k.",
                    (t(f"max(faro_consistency_k{{{SEL}}})", "k"),),
                    width=4,
                ),
            ),
        ),
        RowSpec(
            "Drift and repairs",
            (
                PanelSpec(
                    "Missing and orphan points",
                    "Points in PostgreSQL but not in Qdrant (missing) and in Qdrant but not in PostgreSQL "
                    "(orphan), after repair when it ran. faro_consistency_missing_points, "
                    "faro_consistency_orphan_points.",
                    (
                        t(
                            f"sum by (pipeline, collection) (faro_consistency_missing_points{{{SEL}}})",
                            "{{pipeline}}/{{collection}} missing",
                        ),
                        t(
                            f"sum by (pipeline, collection) (faro_consistency_orphan_points{{{SEL}}})",
                            "{{pipeline}}/{{collection}} orphan",
                        ),
                    ),
                    "short",
                    thresholds=(("green", None), ("red", 1)),
                    decimals=0,
                ),
                PanelSpec(
                    "Points repaired",
                    "Qdrant points the last run's repair upserted or deleted (0 when repair did not run or "
                    "found nothing). faro_consistency_repaired_points.",
                    (
                        t(
                            "sum by (pipeline, collection, action) "
                            f"(faro_consistency_repaired_points{{{SEL}}})",
                            "{{pipeline}}/{{collection}} {{action}}",
                        ),
                    ),
                    "short",
                    decimals=0,
                ),
                PanelSpec(
                    "Outbox backlog at check",
                    "Qdrant operations waiting in the PostgreSQL outbox when the consistency job checked: a "
                    "backlog explains a temporary drift. faro_consistency_outbox_pending.",
                    (
                        t(
                            f"max by (pipeline, collection) (faro_consistency_outbox_pending{{{SEL}}})",
                            "{{pipeline}}/{{collection}}",
                        ),
                    ),
                    "short",
                    decimals=0,
                ),
            ),
        ),
        RowSpec(
            "Census",
            (
                PanelSpec(
                    "Documents per gap",
                    "What the last census of each scope (chunk objects, the bucket source) found: "
                    "acknowledged documents that PostgreSQL lacks, documents with points Qdrant lacks, "
                    "failed (dead-lettered) documents and orphans (in PostgreSQL, acknowledged nowhere), "
                    "before it acted; in flight and unverified are not gaps. faro_census_gap_documents.",
                    (
                        t(
                            f"sum by (pipeline, scope, gap) (faro_census_gap_documents{{{SEL}}})",
                            "{{pipeline}} {{scope}} {{gap}}",
                        ),
                    ),
                    "short",
                    width=12,
                    decimals=0,
                ),
                PanelSpec(
                    "Acknowledged documents",
                    "Documents acknowledged at the last census: chunk objects in S3 (scope chunk_objects), "
                    "the bucket source's files (scope source). faro_census_acknowledged_documents.",
                    (
                        t(
                            f"sum by (pipeline, scope) (faro_census_acknowledged_documents{{{SEL}}})",
                            "{{pipeline}} {{scope}}",
                        ),
                    ),
                    "short",
                    width=6,
                    decimals=0,
                ),
                PanelSpec(
                    "Complete",
                    "1 when the last census left no gap (after its repair); alert FaroDocumentsIncomplete "
                    "when it stays 0 for two runs. faro_census_complete.",
                    (t(f"min(faro_census_complete{{{SEL}}})", "complete"),),
                    "short",
                    kind="stat",
                    width=6,
                    thresholds=(("red", None), ("green", 1)),
                    decimals=0,
                ),
            ),
        ),
        RowSpec(
            "Job runs",
            (
                PanelSpec(
                    "Time since last run",
                    "Time since the last consistency run started; orange after "
                    f"{CONSISTENCY_STALE_SECONDS} s "
                    f"(2 default schedules, alert FaroConsistencyJobNotRunning). "
                    f"faro_consistency_last_run_timestamp_seconds.",
                    (
                        t(
                            "time() - max by (pipeline, collection) "
                            f"(faro_consistency_last_run_timestamp_seconds{{{SEL}}})",
                            "{{pipeline}}/{{collection}}",
                        ),
                    ),
                    "s",
                    kind="stat",
                    thresholds=(("green", None), ("orange", CONSISTENCY_STALE_SECONDS)),
                ),
                PanelSpec(
                    "Time since last consistent run",
                    "Time since the last run that left the stores consistent (after repair) started. "
                    "faro_consistency_last_success_timestamp_seconds.",
                    (
                        t(
                            "time() - max by (pipeline, collection) "
                            f"(faro_consistency_last_success_timestamp_seconds{{{SEL}}})",
                            "{{pipeline}}/{{collection}}",
                        ),
                    ),
                    "s",
                    kind="stat",
                    thresholds=(("green", None), ("orange", CONSISTENCY_STALE_SECONDS)),
                ),
                PanelSpec(
                    "Run duration",
                    "Duration of each consistency run (check and repair). faro_consistency_duration_seconds.",
                    (
                        t(
                            f"max by (pipeline, collection) (faro_consistency_duration_seconds{{{SEL}}})",
                            "{{pipeline}}/{{collection}}",
                        ),
                    ),
                    "s",
                ),
            ),
        ),
    ),
)

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

DASHBOARDS = (PIPELINE_OVERVIEW, STORE_COMPARISON, CONSISTENCY, OPERATOR)


# --- JSON ----------------------------------------------------------------------------------------------


def _field_config(panel: PanelSpec) -> Json:
    defaults: Json = {
        "unit": panel.unit,
        "color": {"mode": "palette-classic" if panel.kind == "timeseries" else "thresholds"},
        "thresholds": {
            "mode": "absolute",
            "steps": [{"color": color, "value": value} for color, value in panel.thresholds],
        },
    }
    if panel.min is not None:
        defaults["min"] = panel.min
    if panel.max is not None:
        defaults["max"] = panel.max
    if panel.decimals is not None:
        defaults["decimals"] = panel.decimals
    if panel.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": True,
            "stacking": {"mode": "normal" if panel.stack else "none", "group": "A"},
            "thresholdsStyle": {"mode": panel.threshold_style},
        }
    return {"defaults": defaults, "overrides": list(panel.overrides)}


def _options(panel: PanelSpec) -> Json:
    if panel.kind == "timeseries":
        return {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    return {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "orientation": "auto",
        "textMode": "auto",
        "colorMode": "value",
        "graphMode": "none",
        "justifyMode": "auto",
    }


def _panel(panel: PanelSpec, panel_id: int, x: int, y: int) -> Json:
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": dict(DATASOURCE),
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "transparent": False,
        "targets": [
            {
                "datasource": dict(DATASOURCE),
                "refId": chr(ord("A") + index),
                "expr": target.expr,
                "legendFormat": target.legend,
                "range": True,
                "instant": False,
                "editorMode": "code",
            }
            for index, target in enumerate(panel.targets)
        ],
        "transformations": [],
        "fieldConfig": _field_config(panel),
        "options": _options(panel),
    }


def _layout(spec: DashboardSpec) -> list[Json]:
    """Row panels, each followed by its panels, left to right and wrapping at the grid width."""
    panels: list[Json] = []
    panel_id, y = 1, 0
    for row in spec.rows:
        panels.append(
            {
                "id": panel_id,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": GRID_WIDTH, "x": 0, "y": y},
                "panels": [],
            }
        )
        panel_id, y = panel_id + 1, y + 1
        x, line_height = 0, 0
        for panel in row.panels:
            if x + panel.width > GRID_WIDTH:
                x, y, line_height = 0, y + line_height, 0
            panels.append(_panel(panel, panel_id, x, y))
            panel_id, x, line_height = panel_id + 1, x + panel.width, max(line_height, panel.height)
        y += line_height
    return panels


def _variables(spec: DashboardSpec) -> list[Json]:
    everything = {"selected": True, "text": ["All"], "value": ["$__all"]}
    variables: list[Json] = [
        {
            "type": "datasource",
            "name": "datasource",
            "label": "Data source",
            "query": "prometheus",
            "hide": 0,
            "skipUrlSync": False,
            "multi": False,
            "includeAll": False,
            "options": [],
            "refresh": 1,
            "regex": "",
        },
        {
            "type": "query",
            "name": "namespace",
            "label": "Namespace",
            "datasource": dict(DATASOURCE),
            "query": f"label_values({spec.variable_metric}, namespace)",
            "hide": 0,
            "skipUrlSync": False,
            "multi": True,
            "includeAll": True,
            "allValue": ".+",
            "current": dict(everything),
            "options": [],
            "refresh": 2,
            "sort": 1,
            "regex": "",
        },
    ]
    if spec.with_pipeline:
        variables.append(
            {
                "type": "query",
                "name": "pipeline",
                "label": "Pipeline",
                "datasource": dict(DATASOURCE),
                "query": f'label_values({spec.variable_metric}{{namespace=~"$namespace"}}, pipeline)',
                "hide": 0,
                "skipUrlSync": False,
                "multi": True,
                "includeAll": True,
                "allValue": ".+",
                "current": dict(everything),
                "options": [],
                "refresh": 2,
                "sort": 1,
                "regex": "",
            }
        )
    return variables


def dashboard_json(spec: DashboardSpec) -> Json:
    others = [other for other in DASHBOARDS if other is not spec]
    return {
        "uid": spec.uid,
        "title": spec.title,
        "description": spec.description,
        "tags": ["faro"],
        "timezone": "browser",
        "editable": True,
        "graphTooltip": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "time": {"from": "now-6h", "to": "now"},
        "annotations": {"list": []},
        "links": [
            {
                "title": "Faro dashboards",
                "type": "dashboards",
                "tags": ["faro"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "icon": "external link",
                "targetBlank": False,
                "tooltip": "",
                "url": "",
            }
        ]
        if others
        else [],
        "templating": {"list": _variables(spec)},
        "panels": _layout(spec),
    }


def render(spec: DashboardSpec) -> str:
    return json.dumps(dashboard_json(spec), indent=2) + "\n"


def rendered() -> dict[str, str]:
    """File name -> content of every dashboard."""
    return {f"{spec.stem}.json": render(spec) for spec in DASHBOARDS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that differ")
    args = parser.parse_args(argv)
    stale = []
    for name, content in rendered().items():
        path = OUTPUT_DIR / name
        if path.exists() and path.read_text() == content:
            continue
        stale.append(name)
        if not args.check:
            OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
    if args.check and stale:
        print(f"out of date (run {Path(__file__).relative_to(REPO_ROOT)}): {', '.join(stale)}")
        return 1
    for name in stale:
        print(f"wrote monitoring/dashboards/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
