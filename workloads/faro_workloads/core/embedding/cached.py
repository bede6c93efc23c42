"""An embedder that asks the embedding cache first (the port
:class:`~faro_workloads.core.stores.ports.EmbeddingCache`).

Ingest embeds through it; queries do not (a question is rarely asked twice, and the query path should not
write). Texts are keyed by the model's identity (:attr:`Embedder.identity`'s ``key``) and the SHA-256 of
their UTF-8 bytes; the same text twice in one call is embedded once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from faro_workloads.core.embedding.base import Embedder
from faro_workloads.core.metrics import EMBEDDINGS_REUSED
from faro_workloads.core.stores.ports import EmbeddingCache


def text_hash(text: str) -> bytes:
    """The cache's key for a text: SHA-256 of its UTF-8 bytes (in PostgreSQL,
    ``sha256(convert_to(text, 'UTF8'))``)."""
    return hashlib.sha256(text.encode("utf-8")).digest()


class CachedEmbedder(Embedder):
    """``inner``'s vectors, computed only for texts the cache does not hold; new ones are kept at once."""

    def __init__(self, inner: Embedder, cache: EmbeddingCache) -> None:
        super().__init__(model=inner.model, dimension=inner.dimension, batch_size=inner.batch_size)
        self.provider = inner.provider
        self.inner = inner
        self._cache = cache

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        key = self.identity.key
        hashes = [text_hash(text) for text in texts]
        unique = dict(zip(hashes, texts, strict=True))  # first text of each hash, in order
        known = self._cache.cached_embeddings(key, list(unique))
        missing = [digest for digest in unique if digest not in known]
        if missing:
            computed = self.inner.embed([unique[digest] for digest in missing])
            fresh = dict(zip(missing, computed, strict=True))
            self._cache.remember_embeddings(key, fresh)
            known = {**known, **fresh}
        EMBEDDINGS_REUSED.labels(self.model).inc(len(texts) - len(missing))
        return np.stack([known[digest] for digest in hashes]).astype(np.float32, copy=False)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return self.inner.embed(texts)  # not reached: embed() is the entry point
