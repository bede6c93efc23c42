"""The embedder interface and the batching, metrics and dimension checks every embedder shares."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from faro_workloads.contract.index_profile import EmbeddingIdentity
from faro_workloads.core.metrics import EMBED_SECONDS, EMBED_TEXTS
from faro_workloads.errors import DependencyUnavailable


class EmbeddingError(DependencyUnavailable):
    """The model could not embed a batch (after retries)."""

    dependency = "embedding model"


class EmbeddingDimensionError(EmbeddingError):
    """The model returned vectors of a dimension other than the collection's. Transient by type (the
    model, not the input, is wrong: a 503 to API callers), but the embedding worker dead-letters the
    message, as no retry of it can succeed until the model or the collection is changed."""


class Embedder(ABC):
    """Turns texts into float32 vectors of a fixed dimension, ``batch_size`` texts per model call."""

    provider = "hash"
    """Who serves the model, as the index profile records it (the gateway's provider for remote models)."""

    cheap = False
    """Whether a short text embeds in well under a millisecond of CPU with no I/O: the query path then
    embeds it on its event loop instead of handing it to a thread."""

    def __init__(self, model: str, dimension: int, batch_size: int) -> None:
        self.model = model
        self._seconds, self._texts = EMBED_SECONDS.labels(model), EMBED_TEXTS.labels(model)
        self.dimension = dimension
        self.batch_size = batch_size

    @property
    def identity(self) -> EmbeddingIdentity:
        """Which model makes this embedder's vectors, as the index profile records it."""
        return EmbeddingIdentity(provider=self.provider, model=self.model, dimension=self.dimension)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts`` in batches; returns an array of shape ``(len(texts), dimension)``."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        parts = []
        for start in range(0, len(texts), self.batch_size):
            batch = list(texts[start : start + self.batch_size])
            with self._seconds.time():
                vectors = np.asarray(self._embed_batch(batch), dtype=np.float32)
            self._texts.inc(len(batch))
            if vectors.ndim != 2 or vectors.shape[0] != len(batch):
                raise EmbeddingError(
                    f"model {self.model!r} returned {vectors.shape[0] if vectors.ndim else 0} vectors "
                    f"for {len(batch)} texts"
                )
            if vectors.shape[1] != self.dimension:
                raise EmbeddingDimensionError(
                    f"model {self.model!r} returned {vectors.shape[1]}-d vectors, the collection expects "
                    f"{self.dimension}-d"
                )
            parts.append(vectors)
        return np.concatenate(parts)

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    @abstractmethod
    def _embed_batch(self, texts: list[str]) -> Sequence[Sequence[float]] | np.ndarray:
        """One model call for at most ``batch_size`` texts."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections or models; the default holds nothing."""
