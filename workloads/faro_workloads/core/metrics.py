"""Every Prometheus metric the data plane exports, defined once (the default registry)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

DOCUMENTS_INGESTED = Counter(
    "faro_documents_ingested_total",
    "Documents handled by ingest, by result (created, replaced, unchanged, deleted).",
    ["result"],
)
CHUNKS_WRITTEN = Counter("faro_chunks_written_total", "Chunks committed to PostgreSQL.")
SENTENCE_EMBEDDINGS = Counter(
    "faro_chunking_sentence_embeddings_total",
    "Sentences embedded to find where the semantic chunking strategy cuts (its extra embedding cost).",
)
TRANSACTION_RETRIES = Counter(
    "faro_store_transaction_retries_total",
    "PostgreSQL write transactions run again after a deadlock or serialization failure, by operation.",
    ["operation"],
)
AUTH_DENIED = Counter(
    "faro_auth_denied_total",
    "Requests to the data APIs refused: no credentials (missing_key), a key no entry has (unknown_key), a "
    "token the API server rejects for the pipeline's audience (invalid_token), a key whose scope does not "
    "allow the call (insufficient_scope), a service account RBAC does not allow (forbidden), a review the "
    "API server did not answer (review_unavailable), over the rate limit (rate_limited).",
    ["reason"],
)
AUTH_REVIEWS = Counter(
    "faro_auth_reviews_total",
    "Reviews asked of the Kubernetes API server (answers reused from the cache are not counted): kind token "
    "(TokenReview) or access (LocalSubjectAccessReview); result allowed, denied, or failed (no answer).",
    ["kind", "result"],
)
AUTH_KEYS = Gauge(
    "faro_auth_keys", "API keys that open the data APIs now (the keys file's and the admin key)."
)
AUTH_KEY_RELOADS = Counter(
    "faro_auth_key_reloads_total",
    "Loads of the keys file: loaded, or refused (unreadable or invalid: the keys before stay in force).",
    ["result"],
)
INGEST_ERRORS = Counter(
    "faro_ingest_errors_total", "Documents rejected or failed during ingest, by reason.", ["reason"]
)
EMBED_SECONDS = Histogram(
    "faro_embed_request_seconds",
    "Latency of one embeddings request (one batch).",
    ["model"],
    buckets=LATENCY_BUCKETS,
)
EMBED_TEXTS = Counter("faro_embedded_texts_total", "Texts sent for embedding.", ["model"])
EMBEDDINGS_REUSED = Counter(
    "faro_embeddings_reused_total",
    "Chunk texts not sent for embedding: the model embedded the same text before (the embedding cache).",
    ["model"],
)
BACKFILL_DOCUMENTS = Counter(
    "faro_backfill_documents_total",
    "Documents a backfill filled into a generation, cleared from it (deleted or replaced since), or could "
    "not fill (no kept text to cut again).",
    ["result"],
)
GENERATION_CUTOVERS = Counter(
    "faro_generation_cutovers_total",
    "Cutovers to a new index generation (promoted), refused by the gate (blocked), and rollbacks.",
    ["result"],
)
REINDEX_PROGRESS = Gauge(
    "faro_reindex_progress_ratio",
    "Share of the documents the building generation holds at their current content (1 when none builds).",
)
REINDEX_PROGRESS.set(1.0)  # until this process runs a backfill, it knows of none building
GOLDEN_RECALL = Gauge(
    "faro_generation_golden_recall",
    "recall@k of the golden queries at the last cutover gate, on the live and on the building generation.",
    ["generation"],
)
GOLDEN_MRR = Gauge(
    "faro_generation_golden_mrr",
    "MRR of the golden queries at the last cutover gate, on the live and on the building generation.",
    ["generation"],
)
EMBEDDING_CACHE_PRUNED = Counter(
    "faro_embedding_cache_pruned_total",
    "Embedding cache entries deleted: no chunk holds their text any more.",
)
STORE_SECONDS = Histogram(
    "faro_store_operation_seconds",
    "Latency of store operations, by backend (qdrant, postgres) and operation.",
    ["backend", "operation"],
    buckets=LATENCY_BUCKETS,
)
QDRANT_CIRCUIT_OPEN = Gauge(
    "faro_query_qdrant_circuit_open",
    "1 from the moment the query path's circuit to Qdrant opens until a trial query succeeds, else 0.",
)
OUTBOX_PENDING = Gauge("faro_outbox_pending", "Qdrant operations waiting in the PostgreSQL outbox.")
OUTBOX_APPLIED = Counter("faro_outbox_applied_total", "Outbox entries applied to Qdrant.")
OUTBOX_FAILURES = Counter("faro_outbox_drain_failures_total", "Outbox drains that failed (Qdrant error).")
QUERY_SECONDS = Histogram(
    "faro_query_seconds",
    "End-to-end query latency, by the backend that answered.",
    ["backend"],
    buckets=LATENCY_BUCKETS,
)
QUERIES = Counter("faro_queries_total", "Queries answered, by backend.", ["backend"])
QUERY_MODES = Counter(
    "faro_query_modes_total",
    "Queries answered, by how chunks were found: dense, lexical or hybrid.",
    ["mode"],
)
QUERY_FALLBACKS = Counter(
    "faro_query_fallbacks_total",
    "Queries answered by PostgreSQL because Qdrant failed, timed out or its circuit was open.",
    ["reason"],
)
QUERY_EMBEDDING_BATCH = Histogram(
    "faro_query_embedding_batch_texts",
    "Query texts embedded per model call by the query path (concurrent queries share a call).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128),
)

SQS_MESSAGES = Counter(
    "faro_sqs_messages_total",
    "SQS messages handled by the embedding engine, by result "
    "(processed, skipped, test_event, poison_retry, dead_lettered, transient_error, released).",
    ["result"],
)
SQS_QUEUE_MESSAGES = Gauge(
    "faro_sqs_queue_messages",
    "Approximate visible messages in the event queue and its dead-letter queue.",
    ["queue"],
)
INGEST_LAG = Gauge(
    "faro_ingest_lag_seconds",
    "Age of the oldest message in the embedding engine's last receive from its queue (0 when the queue gave "
    "none): how far behind the uploads ingestion runs.",
)
EMBEDDER_INFLIGHT = Gauge("faro_embedder_inflight_messages", "Messages the embedding engine is working on.")
VISIBILITY_EXTENSIONS = Counter(
    "faro_sqs_visibility_extensions_total", "Visibility timeouts extended for messages still in flight."
)
DOCUMENTS_REAPPLIED = Counter(
    "faro_documents_reapplied_total",
    "Documents the embedder applied again because S3 held another version (or none) once it had written "
    "one: replicas racing on one document.",
)
CHUNK_OBJECTS_WRITTEN = Counter(
    "faro_chunk_objects_written_total",
    "Chunk objects the chunking service wrote to S3, by result.",
    ["result"],
)


# The values the labelled counters take. Each component creates its counters' series at 0 when it starts
# (:func:`expose_label_values`): a series that first appears already at 1 has no earlier sample, so rate() and
# increase() never see its first event (one dead-lettered message would stay invisible), and dashboards show
# 0 instead of "no data".
DOCUMENT_RESULTS = ("created", "replaced", "unchanged", "deleted")
INGEST_ERROR_REASONS = ("invalid_document", "too_complex", "too_large", "unsupported_media_type")
QUERY_BACKENDS = ("qdrant", "postgres")
FALLBACK_REASONS = ("error", "timeout", "circuit_open")
SQS_RESULTS = (
    "processed",
    "skipped",
    "test_event",
    "poison_retry",
    "dead_lettered",
    "transient_error",
    "released",
)
CHUNK_OBJECT_RESULTS = ("accepted", "unchanged")
BACKFILL_RESULTS = ("filled", "cleared", "unfillable")
CUTOVER_RESULTS = ("promoted", "blocked", "rolled_back")
RETRIED_TRANSACTIONS = (
    "write_document",
    "delete_document",
    "bulk_load",
    "fill_generation",
    "clear_generation",
)


def expose_label_values(counter: Counter, values: Iterable[str | tuple[str, ...]]) -> None:
    """Create ``counter``'s series for each of ``values`` (at 0 unless already counted); a counter with
    several labels takes tuples of values, in label order."""
    for value in values:
        counter.labels(*((value,) if isinstance(value, str) else value))
