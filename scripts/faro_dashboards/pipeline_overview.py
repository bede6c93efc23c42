"""The pipeline overview dashboard: ingest, the queue and the outbox, errors, reindexing (index
generations) and access."""

from __future__ import annotations

from faro_dashboards.model import (
    EMBEDDER_ERROR_RATIO_MAX,
    INGEST_LAG_MAX_SECONDS,
    OUTBOX_PENDING_MAX,
    SEL,
    SQS_ERRORS,
    DashboardSpec,
    PanelSpec,
    RowSpec,
    count_stat,
    quantile,
    rate,
    t,
)

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
                    "refusal is also an audit line. faro_auth_denied_total.",
                    (
                        t(
                            f"sum by (pipeline, reason) ({rate('faro_auth_denied_total')})",
                            "{{pipeline}} {{reason}}",
                        ),
                    ),
                    "reqps",
                    thresholds=(("green", None), ("red", 1)),
                    threshold_style="dashed",
                    width=8,
                    stack=True,
                ),
                PanelSpec(
                    "Service-account reviews",
                    "Reviews the services ask the Kubernetes API server for callers with a service-account "
                    "token, by kind (token: a TokenReview of the token's audience; access: a "
                    "LocalSubjectAccessReview of RBAC) and result (allowed, denied, failed: the API server "
                    "did not answer, the caller got 503). Answers reused from the services' cache are not "
                    "counted, so this is the load on the API server. Alert FaroAccessReviewsFailing. "
                    "faro_auth_reviews_total.",
                    (
                        t(
                            f"sum by (kind, result) ({rate('faro_auth_reviews_total')})",
                            "{{kind}} {{result}}",
                        ),
                    ),
                    "reqps",
                    width=8,
                    stack=True,
                ),
                count_stat(
                    "API keys in force",
                    "Keys that open the data APIs now (the keys file's entries plus the admin key), lowest "
                    "over the pipeline's pods that use keys: after a rotation, the new count once every pod "
                    "has loaded it. faro_auth_keys.",
                    (t(f"min by (pipeline) (faro_auth_keys{{{SEL}}} > 0)", "{{pipeline}}"),),
                    width=4,
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
                    width=4,
                ),
            ),
        ),
    ),
)
