"""The index profile: everything that shapes a collection's vectors, and its fingerprint.

Two documents' vectors can be compared only when the same model embedded the same kind of chunks cut from
the same extracted text. The profile names all of it — the embedding model (provider, name, dimension), the
chunking (strategy, size, overlap and the tokenizer as resolved, not as configured: ``auto`` means different
tokenizers on different machines) and the version of the text extraction — and its fingerprint is recorded
with each stored document. A document is skipped as unchanged only when both its content hash and this
fingerprint match; anything else re-embeds it.

What does not shape the vectors stays out: batch sizes, timeouts, the gateway's address and keys, a
self-hosted model's host (the same model served elsewhere gives the same vectors).
"""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, ConfigDict, Field

from faro_workloads.contract.chunking import (
    ChunkContext,
    ChunkingStrategy,
    ChunkOverlap,
    ChunkSize,
    SemanticPercentile,
)

EXTRACTION_VERSION = 1
"""The version of text extraction (HTML to Markdown-like text, PDF pages, encodings). Raise it whenever a
change to :mod:`faro_workloads.core.text_extraction` can give another text for the same upload."""

LEXICAL_VERSION = "bm25-v1"
"""How chunks' lexical terms are cut and weighted for hybrid search (:mod:`faro_workloads.core.lexical`).
Raise it whenever a change there gives other terms or weights for the same chunk."""

FINGERPRINT_LENGTH = 16
"""Hex digits of a profile's fingerprint (64 bits: no two profiles of one collection collide)."""


class _Identity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @property
    def fingerprint(self) -> str:
        """A short stable digest: equal values, equal fingerprints, on every machine. A field that is None
        is left out, so a field added as optional keeps the fingerprints of the profiles without it."""
        dumped = self.model_dump(mode="json", exclude_none=True)
        canonical = json.dumps(dumped, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:FINGERPRINT_LENGTH]


class EmbeddingIdentity(_Identity):
    """Which model makes the vectors: the provider's name for it and the dimension it returns."""

    provider: str = Field(min_length=1, description="hash, openai or cohere (the gateway's provider).")
    model: str = Field(min_length=1)
    dimension: int = Field(ge=1, le=16000)

    @property
    def key(self) -> str:
        """One string naming the model, e.g. ``openai:text-embedding-3-small@1536`` (the embedding cache's
        key: two chunks with the same text and key have the same vector)."""
        return f"{self.provider}:{self.model}@{self.dimension}"


class ChunkingIdentity(_Identity):
    """How documents are cut: the strategy, sizes in tokens, and the resolved tokenizer's identity."""

    strategy: ChunkingStrategy
    size: ChunkSize
    overlap: ChunkOverlap
    tokenizer: str = Field(min_length=1, description="chars/4, or hf:<digest of tokenizer.json>.")
    context: ChunkContext | None = Field(
        None, description="What is embedded with each chunk besides its text; None: nothing (as 'none')."
    )
    semantic_percentile: SemanticPercentile | None = Field(
        None, description="The semantic strategy's breakpoint percentile; None for the other strategies."
    )

    @property
    def embeds_context(self) -> bool:
        return self.context not in (None, "none")


class IndexProfile(_Identity):
    """Everything that shapes the vectors of a collection (see the module docstring)."""

    embedding: EmbeddingIdentity
    chunking: ChunkingIdentity
    extraction: int = Field(EXTRACTION_VERSION, ge=1)
    lexical: str | None = Field(
        None, description="The lexical index's version (hybrid search); None: made before hybrid search."
    )

    @classmethod
    def current(cls, embedding: EmbeddingIdentity, chunking: ChunkingIdentity) -> IndexProfile:
        """The profile this release indexes with, for a model and a chunking."""
        return cls(embedding=embedding, chunking=chunking, lexical=LEXICAL_VERSION)

    def describe(self) -> str:
        """One line for people: ``model@dim · strategy size/overlap · tokenizer · extraction vN``."""
        chunking = self.chunking
        context = f" +{chunking.context}" if chunking.embeds_context else ""
        lexical = f" · {self.lexical}" if self.lexical else ""
        return (
            f"{self.embedding.key} · {chunking.strategy} {chunking.size}/{chunking.overlap}{context} "
            f"· {chunking.tokenizer} · extraction v{self.extraction}{lexical}"
        )
