"""An embedding cache in one file, for benchmarks that embed the same corpus run after run.

It is the product's port :class:`~faro_workloads.core.stores.ports.EmbeddingCache`, so the product's
:class:`~faro_workloads.core.embedding.cached.CachedEmbedder` runs in front of the model unchanged; only
where the vectors are kept differs (a ``.npz`` under ``${FARO_CACHE:-~/.cache/faro}/bench/`` instead of a
PostgreSQL table). A vector depends only on the model and the text, so a cached one is the one the model
would compute again; deleting the file costs time, never a different result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

_KEY_BYTES = 32


class FileEmbeddingCache:
    """Vectors of one model in ``path``: read when opened, written by :meth:`save` when something was
    added."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._model_key = ""
        self._vectors: dict[bytes, np.ndarray] = {}
        self._dirty = False
        if path.is_file():
            with np.load(path) as stored:
                self._model_key = str(stored["model_key"])
                keys, vectors = stored["keys"], stored["vectors"]
                self._vectors = {bytes(key): vector for key, vector in zip(keys, vectors, strict=True)}

    def __len__(self) -> int:
        return len(self._vectors)

    def cached_embeddings(self, model_key: str, text_hashes: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        if model_key != self._model_key:
            return {}
        return {digest: self._vectors[digest] for digest in text_hashes if digest in self._vectors}

    def remember_embeddings(self, model_key: str, embeddings: Mapping[bytes, np.ndarray]) -> None:
        if model_key != self._model_key:  # another model: its vectors replace the file's
            self._model_key, self._vectors = model_key, {}
        self._vectors.update(embeddings)
        self._dirty = self._dirty or bool(embeddings)

    def prune_embedding_cache(self, grace_seconds: float) -> int:
        return 0  # a benchmark's file only grows with its corpus

    def save(self) -> None:
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.frombuffer(b"".join(self._vectors), dtype=np.uint8).reshape(-1, _KEY_BYTES)
        vectors = np.stack(list(self._vectors.values())).astype(np.float32)
        partial = self.path.with_suffix(".partial.npz")
        np.savez(partial, model_key=np.array(self._model_key), keys=keys, vectors=vectors)
        partial.replace(self.path)
        self._dirty = False
