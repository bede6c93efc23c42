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

    @model_validator(mode="after")
    def _dimensions_agree(self) -> FaroSettings:
        problem = dimension_mismatch(self.collection, self.embedding)
        if problem:
            raise ValueError(problem)
        return self
