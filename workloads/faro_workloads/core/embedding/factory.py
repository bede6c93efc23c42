"""Builds the configured embedder."""

from __future__ import annotations

from faro_workloads.contract.settings import EmbeddingConfig
from faro_workloads.core.embedding.base import Embedder
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.embedding.portkey import PortkeyEmbedder


def build_embedder(config: EmbeddingConfig) -> Embedder:
    if config.kind == "hash":
        return HashingEmbedder(dimension=config.dimension, model=config.model, batch_size=config.batch_size)
    return PortkeyEmbedder(config)
