"""Configuration models for every part of the data plane.

Each service reads one :class:`FaroSettings` from the environment (``FARO_`` prefix, ``__`` between nested
fields, e.g. ``FARO_POSTGRES__DSN``); the operator renders exactly these variables into a ConfigMap.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_IDENTIFIER = r"^[a-z_][a-z0-9_]{0,39}$"


class Distance(StrEnum):
    """Vector distance; both stores index with the same one."""

    COSINE = "cosine"
    DOT = "dot"
    EUCLID = "euclid"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CollectionConfig(_Model):
    """The vector collection both stores hold."""

    name: str = Field("default", pattern=_IDENTIFIER, description="Collection name (a SQL identifier).")
    dimension: int = Field(384, ge=1, le=16000, description="Vector dimension.")
    distance: Distance = Field(Distance.COSINE, description="Distance used by both indexes.")


class HnswConfig(_Model):
    """HNSW graph parameters, applied to Qdrant and pgvector alike."""

    m: int = Field(16, ge=2, le=100)
    ef_construct: int = Field(100, ge=4, le=1000)


class ChunkingConfig(_Model):
    """How documents are cut into chunks. Sizes are in tokens of ``tokenizer``."""

    strategy: Literal["fixed", "recursive", "markdown", "sentence"] = "recursive"
    size: int = Field(
        250,
        ge=8,
        le=8192,
        description="Target chunk size in tokens (MiniLM sees 256 including its 2 special tokens).",
    )
    overlap: int = Field(32, ge=0, le=4096, description="Tokens shared by neighbouring chunks.")
    tokenizer: str = Field(
        "auto",
        description=(
            "'auto' (the MiniLM tokenizer when installed, else characters), 'chars' "
            "(about 4 characters a token), or the path of a Hugging Face tokenizer.json."
        ),
    )

    @model_validator(mode="after")
    def _overlap_below_size(self) -> ChunkingConfig:
        if self.overlap >= self.size:
            raise ValueError(f"chunking overlap ({self.overlap}) must be smaller than size ({self.size})")
        return self


class EmbeddingConfig(_Model):
    """Where embeddings come from.

    ``hash`` is the deterministic offline embedder (tests, quick demos); ``portkey`` calls a model through
    the ``portkey-ai`` SDK, normally via a Portkey gateway, or any OpenAI-compatible ``/v1/embeddings``.
    """

    kind: Literal["hash", "portkey"] = "hash"
    model: str = Field("faro-hash-v1", min_length=1, description="Model name sent to the provider.")
    dimension: int = Field(384, ge=1, le=16000, description="Dimension the model returns.")
    batch_size: int = Field(64, ge=1, le=2048, description="Texts per embeddings request.")
    gateway_url: str | None = Field(None, description="Portkey gateway base URL, e.g. http://gw:8787/v1.")
    provider: Literal["openai", "cohere"] = "openai"
    custom_host: str | None = Field(
        None, description="OpenAI-compatible model server the gateway forwards to (must end in /v1)."
    )
    api_key: SecretStr | None = Field(None, description="Provider API key (from a Secret).")
    portkey_api_key: SecretStr | None = Field(None, description="Portkey API key, for the hosted gateway.")
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    max_attempts: int = Field(5, ge=1, le=20, description="Attempts per batch, with exponential backoff.")

    @model_validator(mode="after")
    def _portkey_needs_gateway(self) -> EmbeddingConfig:
        if self.kind == "portkey" and not self.gateway_url:
            raise ValueError("embedding kind 'portkey' needs gateway_url")
        if self.custom_host is not None and not self.custom_host.rstrip("/").endswith("/v1"):
            raise ValueError(f"custom_host must end in /v1, got {self.custom_host!r}")
        return self


class PostgresConfig(_Model):
    """The durable store: PostgreSQL with pgvector."""

    dsn: SecretStr = Field(SecretStr("postgresql:///faro"), description="libpq connection string.")
    schema_name: str = Field("faro", pattern=_IDENTIFIER, description="Schema holding Faro's tables.")
    pool_size: int = Field(4, ge=1, le=64)
    ef_search: int = Field(100, ge=1, le=1000, description="hnsw.ef_search for queries.")


class QdrantConfig(_Model):
    """The fast store: a Qdrant server URL, or qdrant-client local mode (a folder or ':memory:')."""

    url: str | None = Field(None, description="Server URL, e.g. http://qdrant:6333.")
    path: str | None = Field(None, description="Local-mode folder, or ':memory:'.")
    api_key: SecretStr | None = None
    timeout_seconds: float = Field(2.0, gt=0, le=120, description="Per-request timeout.")
    upsert_batch_size: int = Field(256, ge=1, le=10000)

    @model_validator(mode="after")
    def _one_location(self) -> QdrantConfig:
        if (self.url is None) == (self.path is None):
            raise ValueError("qdrant needs exactly one of url or path")
        return self


class QueryConfig(_Model):
    """Limits and fallback behaviour of the query API."""

    default_top_k: int = Field(5, ge=1, le=100)
    max_top_k: int = Field(50, ge=1, le=1000)
    max_query_chars: int = Field(2000, ge=1, le=100_000)
    qdrant_timeout_seconds: float = Field(1.0, gt=0, le=60, description="Give up on Qdrant after this.")
    breaker_failures: int = Field(3, ge=1, le=100, description="Failures that open the circuit.")
    breaker_reset_seconds: float = Field(
        30.0, gt=0, le=3600, description="Open circuit stays open this long."
    )


class IngestConfig(_Model):
    """Limits of the document API."""

    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024, le=1024**3)


class S3Config(_Model):
    """Where chunk objects live. ``endpoint_url`` points at an S3-compatible server (tests, MinIO)."""

    bucket: str = Field(..., pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", description="Bucket name.")
    prefix: str = Field(
        "faro",
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
        description="Top-level key prefix (one segment).",
    )
    endpoint_url: str | None = Field(None, description="S3 endpoint; AWS's when absent.")
    region: str = Field("us-east-1", min_length=1)


class SQSConfig(_Model):
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


class AuthConfig(_Model):
    """API-key check of the query service (health and metrics stay open)."""

    api_key: SecretStr | None = Field(None, description="Bearer key; the API is open when absent.")


class ConsistencyConfig(_Model):
    """The consistency check the CronJob runs."""

    sample_size: int = Field(50, ge=1, le=10_000, description="Stored vectors used as queries.")
    k: int = Field(10, ge=1, le=1000, description="Top-k compared between the stores.")
    min_overlap: float = Field(0.95, ge=0, le=1, description="Below this the job fails.")
    repair: bool = Field(False, description="Realign Qdrant from Postgres after checking.")
    pushgateway_url: str | None = Field(None, description="Prometheus Pushgateway for the results.")
    namespace: str | None = Field(None, description="Namespace of the RagPipeline to write status to.")


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
    auth: AuthConfig = AuthConfig()
    consistency: ConsistencyConfig = ConsistencyConfig()

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
