"""Configuration models for every part of the data plane.

Each service reads one :class:`FaroSettings` from the environment (``FARO_`` prefix, ``__`` between nested
fields, e.g. ``FARO_POSTGRES__DSN``); the operator renders exactly these variables into a ConfigMap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from faro_workloads.contract.api import Distance, SearchMode, SettingsModel
from faro_workloads.contract.auth_settings import AuthConfig
from faro_workloads.contract.chunking import (
    DEFAULT_CONTEXT,
    DEFAULT_OVERLAP,
    DEFAULT_SEMANTIC_PERCENTILE,
    DEFAULT_SIZE,
    DEFAULT_STRATEGY,
    ChunkContext,
    ChunkingStrategy,
    ChunkOverlap,
    ChunkSize,
    SemanticPercentile,
    overlap_problem,
)
from faro_workloads.contract.embedding_settings import EmbeddingConfig
from faro_workloads.contract.generations import DEFAULT_RETAIN_GENERATIONS
from faro_workloads.contract.golden_queries import (
    DEFAULT_MAX_RECALL_DROP,
    DEFAULT_RECALL_K,
    RecallDrop,
    RecallK,
)
from faro_workloads.contract.secret_files import SecretFilesSource

_IDENTIFIER = r"^[a-z_][a-z0-9_]{0,39}$"


class CollectionConfig(SettingsModel):
    """The vector collection both stores hold."""

    name: str = Field("default", pattern=_IDENTIFIER, description="Collection name (a SQL identifier).")
    dimension: int = Field(384, ge=1, le=16000, description="Vector dimension.")
    distance: Distance = Field(Distance.COSINE, description="Distance used by both indexes.")


INDEX_BUILD_WORKERS = 2
MAX_INDEX_BUILD_WORKERS = 64


class HnswConfig(SettingsModel):
    """HNSW graph parameters, applied to Qdrant and pgvector alike."""

    m: int = Field(16, ge=2, le=100)
    ef_construct: int = Field(100, ge=4, le=1000)
    build_workers: int = Field(
        INDEX_BUILD_WORKERS,
        ge=0,
        le=MAX_INDEX_BUILD_WORKERS,
        description=(
            "PostgreSQL processes that help the leader build a generation's HNSW index after its bulk load "
            "(the server's max_parallel_workers caps them; 0: one process)."
        ),
    )


class ChunkingConfig(SettingsModel):
    """How documents are cut into chunks. Sizes are in tokens of ``tokenizer``."""

    strategy: ChunkingStrategy = DEFAULT_STRATEGY
    size: ChunkSize = Field(
        DEFAULT_SIZE,
        description="Target chunk size in tokens (MiniLM sees 256 including its 2 special tokens).",
    )
    overlap: ChunkOverlap = Field(DEFAULT_OVERLAP, description="Tokens shared by neighbouring chunks.")
    context: ChunkContext = Field(
        DEFAULT_CONTEXT,
        description="What is embedded with each chunk: its document's title and heading path, or none.",
    )
    semantic_percentile: SemanticPercentile = Field(
        DEFAULT_SEMANTIC_PERCENTILE,
        description=(
            "semantic strategy: cut where neighbouring sentences' embeddings are further apart than this "
            "percentile of the document's sentence distances."
        ),
    )
    tokenizer: str = Field(
        "auto",
        description=(
            "'auto' (the MiniLM tokenizer when installed, else characters), 'chars' "
            "(about 4 characters a token), or the path of a Hugging Face tokenizer.json."
        ),
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingConfig:
        if problem := overlap_problem(self.size, self.overlap):
            raise ValueError(problem)
        return self


class PostgresConfig(SettingsModel):
    """The durable store: PostgreSQL with pgvector."""

    dsn: SecretStr = Field(SecretStr("postgresql:///faro"), description="libpq connection string.")
    read_dsn: SecretStr | None = Field(
        None,
        description="A read-only endpoint (e.g. an RDS read replica) for the query path's searches; writes, "
        "the registry and everything else keep dsn.",
    )
    schema_name: str = Field("faro", pattern=_IDENTIFIER, description="Schema holding Faro's tables.")
    pool_size: int = Field(4, ge=1, le=64)
    ef_search: int = Field(100, ge=1, le=1000, description="hnsw.ef_search for queries.")
    connect_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Longest wait for a connection; then the operation fails (and retries).",
    )


LocalEngine = Literal["edge", "python"]
"""Local mode's Qdrant engine: Qdrant Edge (Qdrant's own engine in this process) or qdrant-client's local
mode (pure Python)."""
DEFAULT_LOCAL_ENGINE: LocalEngine = "edge"


class QdrantConfig(SettingsModel):
    """The fast store: a Qdrant server URL, or local mode in this process (a folder or ':memory:')."""

    url: str | None = Field(None, description="Server URL, e.g. http://qdrant:6333.")
    path: str | None = Field(None, description="Local-mode folder, or ':memory:'.")
    local_engine: LocalEngine = Field(
        DEFAULT_LOCAL_ENGINE,
        description="Local mode's engine: 'edge' (Qdrant Edge, Qdrant's own engine in this process) or "
        "'python' (qdrant-client's local mode, pure Python).",
    )
    api_key: SecretStr | None = None
    timeout_seconds: float = Field(2.0, gt=0, le=120, description="Per-request timeout.")
    upsert_batch_size: int = Field(256, ge=1, le=10000)
    shards: int = Field(1, ge=1, le=1000, description="Shards of each collection Faro creates.")
    replication_factor: int = Field(1, ge=1, le=100, description="Copies of each shard on distinct nodes.")
    write_consistency_factor: int = Field(
        1, ge=1, le=100, description="Copies that must acknowledge a write before it is acknowledged."
    )

    @model_validator(mode="after")
    def _one_location(self) -> QdrantConfig:
        if (self.url is None) == (self.path is None):
            raise ValueError("qdrant needs exactly one of url or path")
        if self.write_consistency_factor > self.replication_factor:
            raise ValueError(
                f"qdrant write_consistency_factor ({self.write_consistency_factor}) exceeds "
                f"replication_factor ({self.replication_factor})"
            )
        return self


class QueryConfig(SettingsModel):
    """Limits and fallback behaviour of the query API."""

    default_top_k: int = Field(5, ge=1, le=100)
    max_top_k: int = Field(50, ge=1, le=1000)
    default_mode: SearchMode = Field(
        SearchMode.HYBRID, description="The search mode of a query that names none."
    )
    hybrid_candidates: int = Field(
        50,
        ge=1,
        le=1000,
        description="Chunks each signal of a hybrid query brings to the fusion (at least top_k).",
    )
    rrf_k: int = Field(60, ge=1, le=10_000, description="Reciprocal rank fusion's k: 1 / (k + rank).")
    max_chunks_per_document: int = Field(
        1, ge=0, le=100, description="At most this many chunks of one document in an answer (0: no limit)."
    )
    lexical_weight: float = Field(
        1.0, ge=0, le=10, description="Weight of the lexical ranking in the fusion (the dense one weighs 1)."
    )
    max_query_chars: int = Field(2000, ge=1, le=100_000)
    qdrant_timeout_seconds: float = Field(1.0, gt=0, le=60, description="Give up on Qdrant after this.")
    breaker_failures: int = Field(3, ge=1, le=100, description="Failures that open the circuit.")
    breaker_reset_seconds: float = Field(
        30.0, gt=0, le=3600, description="Open circuit stays open this long."
    )


class IngestConfig(SettingsModel):
    """Limits of the document API: what one upload may cost before it is refused with a reason."""

    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024, le=1024**3)
    max_html_depth: int = Field(512, ge=16, le=100_000, description="Deepest HTML element nesting accepted.")
    max_html_elements: int = Field(250_000, ge=100, le=10_000_000, description="Most HTML elements accepted.")
    extraction_timeout_seconds: float = Field(
        10.0, gt=0, le=600, description="Text extraction of one document is stopped after this many seconds."
    )
    extraction_workers: int = Field(2, ge=1, le=64, description="Processes that extract text from uploads.")


BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
SOURCE_PREFIX_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9._/-]{0,200}[A-Za-z0-9._-])?$"
"""A bucket source's key prefix: no leading or trailing slash."""
MAX_SOURCE_GLOBS = 50


class S3Config(SettingsModel):
    """Where chunk objects live. ``endpoint_url`` points at an S3-compatible server (tests, MinIO)."""

    bucket: str = Field(..., pattern=BUCKET_PATTERN, description="Bucket name.")
    prefix: str = Field(
        "faro",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
        description="Top-level key prefix (one segment).",
    )
    endpoint_url: str | None = Field(None, description="S3 endpoint; AWS's when absent.")
    region: str = Field("us-east-1", min_length=1)


class SourceDocumentsConfig(SettingsModel):
    """A bucket prefix of raw documents the pipeline keeps in sync: a file created there is ingested, a file
    removed there is deleted from every store (``doc_id``: the key below the prefix)."""

    bucket: str | None = Field(
        None,
        pattern=BUCKET_PATTERN,
        description="Bucket of the documents; the chunk bucket (s3.bucket) when absent.",
    )
    prefix: str = Field(
        ...,
        pattern=SOURCE_PREFIX_PATTERN,
        description="Key prefix of the documents (no trailing slash), e.g. raw/docs.",
    )
    include: list[str] = Field(
        default_factory=list,
        max_length=MAX_SOURCE_GLOBS,
        description="Globs of keys (below the prefix) to ingest; all when empty.",
    )
    exclude: list[str] = Field(
        default_factory=list, max_length=MAX_SOURCE_GLOBS, description="Globs of keys never ingested."
    )
    sync: bool = Field(
        True, description="The periodic full sync ingests and deletes what differs (false: it only reports)."
    )


class SQSConfig(SettingsModel):
    """The queue of S3 ObjectCreated notifications the embedder consumes."""

    queue_url: str = Field(..., min_length=1, description="Queue receiving the bucket's notifications.")
    dead_letter_queue_url: str | None = Field(None, description="Poison messages go here.")
    max_receives: int = Field(5, ge=1, le=1000, description="Receives before a message counts as poison.")
    wait_seconds: int = Field(20, ge=0, le=20, description="Long-poll wait.")
    visibility_timeout_seconds: int = Field(
        60, ge=5, le=43200, description="Per receive; extended while busy."
    )
    max_messages: int = Field(10, ge=1, le=10, description="Messages per receive call.")
    concurrency: int = Field(4, ge=1, le=64, description="Objects processed at once.")
    endpoint_url: str | None = Field(None, description="SQS endpoint; AWS's when absent.")
    region: str = Field("us-east-1", min_length=1)


class ConsistencyConfig(SettingsModel):
    """The consistency check the CronJob runs."""

    sample_size: int = Field(50, ge=1, le=10_000, description="Stored vectors used as queries.")
    k: int = Field(10, ge=1, le=1000, description="Top-k compared between the stores.")
    min_overlap: float = Field(0.95, ge=0, le=1, description="Below this the job fails.")
    repair: bool = Field(False, description="Realign Qdrant from Postgres after checking.")
    pushgateway_url: str | None = Field(None, description="Prometheus Pushgateway for the results.")
    namespace: str | None = Field(None, description="Namespace of the RagPipeline to write status to.")
    census: bool = Field(
        True, description="Count the acknowledged chunk objects in S3 against the stores (when S3 is set)."
    )
    census_grace_seconds: float = Field(
        300, ge=0, le=86_400, description="A document acknowledged this recently is in flight, not missing."
    )
    max_orphan_deletes: int = Field(
        1000, ge=0, description="Repair deletes no orphan when there are more (a wrong bucket looks so)."
    )
    requeue_timeout_seconds: float = Field(
        21_600,
        ge=0,
        le=7 * 86_400,
        description="A document a census sent to the embedding engine counts as on its way this long; not "
        "stored by then, it is sent again.",
    )
    deleted_marks_retention_days: float = Field(
        7, gt=0, le=3650, description="How long GET /v1/documents/{id} answers 'deleted' after a delete."
    )


class GenerationsConfig(SettingsModel):
    """Index generations: how a change of model or chunking is rolled out (see
    :mod:`faro_workloads.contract.generations`)."""

    cutover: Literal["Automatic", "Manual"] = Field(
        "Automatic",
        description="Automatic: switch once the new generation passes the gate; Manual: wait for approval.",
    )
    retain: int = Field(
        DEFAULT_RETAIN_GENERATIONS,
        ge=0,
        le=10,
        description="Retired generations kept for an instant rollback.",
    )
    min_overlap: float = Field(
        0.95, ge=0, le=1, description="Lowest overlap@k between the new generation's two stores for the gate."
    )
    sample_size: int = Field(50, ge=1, le=10_000, description="Stored vectors the gate uses as queries.")
    k: int = Field(10, ge=1, le=1000, description="Top-k the gate compares between the stores.")
    batch_documents: int = Field(32, ge=1, le=10_000, description="Documents a backfill fills per batch.")
    golden_queries: Path | None = Field(
        None,
        description=(
            "A golden-queries file (YAML or JSON: queries with the ids of the documents that answer them): "
            "the gate then wants the new generation's recall@k within max_recall_drop of the live one's."
        ),
    )
    recall_k: RecallK = DEFAULT_RECALL_K
    max_recall_drop: RecallDrop = DEFAULT_MAX_RECALL_DROP


def dimension_mismatch(collection: CollectionConfig, embedding: EmbeddingConfig) -> str | None:
    """A readable complaint when the model's dimension differs from the collection's, else None."""
    if collection.dimension != embedding.dimension:
        return (
            f"embedding model {embedding.model!r} returns {embedding.dimension}-d vectors but collection "
            f"{collection.name!r} holds {collection.dimension}-d"
        )
    return None


class FaroSettings(BaseSettings):
    """Everything a Faro data-plane process needs, read from FARO_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="FARO_", env_nested_delimiter="__", extra="ignore")

    collection: CollectionConfig = CollectionConfig()
    hnsw: HnswConfig = HnswConfig()
    chunking: ChunkingConfig = ChunkingConfig()
    embedding: EmbeddingConfig = EmbeddingConfig()
    postgres: PostgresConfig = PostgresConfig()
    qdrant: QdrantConfig = QdrantConfig(path=":memory:")
    query: QueryConfig = QueryConfig()
    ingest: IngestConfig = IngestConfig()
    pipeline: str = Field(
        "default",
        pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$",
        description="The RagPipeline's name: S3 key segment, metrics label, status target.",
    )
    s3: S3Config | None = None
    sqs: SQSConfig | None = None
    source_documents: SourceDocumentsConfig | None = None
    auth: AuthConfig = AuthConfig()
    consistency: ConsistencyConfig = ConsistencyConfig()
    generations: GenerationsConfig = GenerationsConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then environment variables, then the files of the secrets folder
        (:mod:`~faro_workloads.contract.secret_files`)."""
        return init_settings, env_settings, SecretFilesSource(settings_cls), dotenv_settings

    def require(self, *sections: str) -> None:
        """Fail with one readable line when a service's required sections are not configured."""
        missing = [name for name in sections if getattr(self, name) is None]
        if missing:
            variables = ", ".join(f"FARO_{name.upper()}__..." for name in missing)
            raise ValueError(f"missing configuration: {', '.join(missing)} (set {variables})")

    @model_validator(mode="after")
    def _dimensions_agree(self) -> FaroSettings:
        problem = dimension_mismatch(self.collection, self.embedding)
        if problem:
            raise ValueError(problem)
        return self
