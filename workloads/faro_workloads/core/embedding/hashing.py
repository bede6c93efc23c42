"""A deterministic, offline embedder: signed feature hashing of words and word bigrams.

Texts that share words get similar vectors, so lexical queries find the right chunks in tests and quick
demos, with no model to download. Stable across processes and machines (blake2b, not ``hash()``).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from itertools import pairwise
from math import log

import numpy as np

from faro_workloads.core.embedding.base import Embedder

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedder(Embedder):
    """Unit vectors from hashed word unigrams and bigrams with sublinear term frequency."""

    cheap = True

    def __init__(self, dimension: int = 384, model: str = "faro-hash-v1", batch_size: int = 256) -> None:
        super().__init__(model=model, dimension=dimension, batch_size=batch_size)
        self._bucket_cache: dict[str, tuple[int, float]] = {}

    def _bucket(self, feature: str) -> tuple[int, float]:
        cached = self._bucket_cache.get(feature)
        if cached is None:
            digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
            value = int.from_bytes(digest, "little")
            cached = (value % self.dimension, 1.0 if (value >> 63) & 1 else -1.0)
            if len(self._bucket_cache) < 500_000:
                self._bucket_cache[feature] = cached
        return cached

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        cached = self._bucket_cache.get
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            # Words first, then bigrams, each in first-seen order: the order one Counter of both had (a bigram
            # holds a space, so it never equals a word), kept because float32 sums depend on it.
            indices: list[int] = []
            terms: list[float] = []
            for features, weight in ((Counter(words), 1.0), (Counter(map(" ".join, pairwise(words))), 0.5)):
                for feature, count in features.items():
                    index, sign = cached(feature) or self._bucket(feature)
                    indices.append(index)
                    terms.append(sign * (weight if count == 1 else (1.0 + log(count)) * weight))
            # One vectorised scatter-add per text (in feature order, float64 terms added into float32, as
            # the per-feature `out[row, index] += term` it replaces): numpy scalar maths per feature was
            # most of the embedding time.
            np.add.at(out[row], indices, np.asarray(terms, dtype=np.float64))
            norm = np.linalg.norm(out[row])
            if norm > 0:
                out[row] /= norm
            else:
                out[row, 0] = 1.0  # no words at all: a fixed unit vector, never NaN
        return out
