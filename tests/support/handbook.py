"""A document whose edits are easy to reason about, and an embedder that records what it was sent: for the
tests of what is (and is not) embedded again."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from faro_workloads.contract.settings import ChunkingConfig
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore
from faro_workloads.data_plane import DataPlane

SECTIONS = 40


def handbook(edited: int | None = None) -> str:
    """A Markdown handbook of 40 sections of one paragraph; ``edited``: that section's paragraph reworded."""
    sections = []
    for n in range(SECTIONS):
        body = f"Section {n} explains step {n} of the procedure, with the checks that follow it and why."
        if n == edited:
            body = f"Section {n} was rewritten: step {n} now needs a second reviewer before it may start."
        sections.append(f"## Part {n}\n\n{body}")
    return "# Handbook\n\n" + "\n\n".join(sections) + "\n"


class RecordingEmbedder(HashingEmbedder):
    """The hashing embedder, recording every text the "model" was sent."""

    def __init__(self, dimension: int = 32, model: str = "faro-hash-v1") -> None:
        super().__init__(dimension=dimension, model=model)
        self.sent: list[str] = []

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        self.sent.extend(texts)
        return super()._embed_batch(texts)


class UnrelatedEmbedder(RecordingEmbedder):
    """A worse model for the quality gate: each text becomes a point fixed by its exact bytes and unrelated
    to its words, so questions find documents by chance (deterministic, and every text distinct)."""

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        self.sent.extend(texts)
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
            row = np.random.default_rng(seed).standard_normal(self.dimension)
            rows.append(row / np.linalg.norm(row))
        return np.asarray(rows, dtype=np.float32)


@contextmanager
def draining_plane(
    pg: PgVectorStore, qdrant: QdrantStore, model: HashingEmbedder, chunking: ChunkingConfig
) -> Iterator[DataPlane]:
    """A data plane over the real stores whose outbox drains every 50 ms; closed after."""
    plane = DataPlane(pg, qdrant, model, chunking)
    plane.start_drainer(interval=0.05)
    try:
        yield plane
    finally:
        plane.close()
