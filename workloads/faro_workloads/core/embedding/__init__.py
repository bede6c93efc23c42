"""Embedding clients behind one interface: :class:`Embedder`.

- :class:`~.hashing.HashingEmbedder`: deterministic, offline, lexical (tests and quick demos).
- :class:`~.portkey.PortkeyEmbedder`: a model behind the Portkey AI gateway, or any OpenAI-compatible
  ``/v1/embeddings`` endpoint, through the ``portkey-ai`` SDK. This is the production path.
- :class:`~.minilm.MiniLMEmbedder`: the real all-MiniLM-L6-v2, offline; served over HTTP by
  :mod:`.model_server` so pipelines reach it exactly as they reach a hosted model.
"""

from faro_workloads.core.embedding.base import Embedder, EmbeddingDimensionError, EmbeddingError
from faro_workloads.core.embedding.factory import build_embedder

__all__ = ["Embedder", "EmbeddingDimensionError", "EmbeddingError", "build_embedder"]
