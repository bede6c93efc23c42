"""The deterministic hashing embedder and the batching/dimension checks every embedder shares."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from faro_workloads.core.embedding import EmbeddingDimensionError, EmbeddingError
from faro_workloads.core.embedding.base import Embedder
from faro_workloads.core.embedding.hashing import HashingEmbedder


def test_vectors_are_deterministic_unit_length_and_float32() -> None:
    first = HashingEmbedder(dimension=64).embed(["the outbox keeps pending work", "qdrant is fast"])
    second = HashingEmbedder(dimension=64).embed(["the outbox keeps pending work", "qdrant is fast"])
    assert first.dtype == np.float32
    assert first.shape == (2, 64)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-6)


def test_vectors_never_change_across_versions() -> None:
    """Stored points were embedded by earlier versions: a query must get exactly the vectors they got
    (the digest is of the faro-hash-v1 vectors, float32 bytes, as first released)."""
    texts = [
        "the outbox keeps pending work",
        "Qdrant is fast; Qdrant is FAST, qdrant is fast!",  # repeated words and bigrams
        "",
        "a a a b b c",
        "Ünïcode wörds and 42 numbers 42",
    ]
    vectors = HashingEmbedder(dimension=384).embed(texts)
    digest = hashlib.sha256(vectors.astype(np.float32).tobytes()).hexdigest()
    assert digest == "e17513d7693c82f289055c3cac512fdaa5a031c25cdb093fce9950c2fc79edb6"


def test_shared_words_mean_closer_vectors() -> None:
    emb = HashingEmbedder(dimension=384)
    query, near, far = emb.embed(
        [
            "how does the outbox protect writes when qdrant is down",
            "the outbox keeps writes safe while qdrant is down",
            "grafana dashboards plot latency percentiles",
        ]
    )
    assert float(query @ near) > float(query @ far) + 0.2


def test_text_without_words_gets_a_fixed_unit_vector() -> None:
    vector = HashingEmbedder(dimension=16).embed_one("... !!! ---")
    assert np.isfinite(vector).all()
    assert float(np.linalg.norm(vector)) == pytest.approx(1.0)


class _RecordingEmbedder(Embedder):
    def __init__(self, returned_dimension: int, batch_size: int = 3) -> None:
        super().__init__(model="recording", dimension=8, batch_size=batch_size)
        self.returned_dimension = returned_dimension
        self.batches: list[list[str]] = []

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        self.batches.append(texts)
        return np.ones((len(texts), self.returned_dimension), dtype=np.float32)


def test_texts_are_sent_in_batches_of_batch_size_in_order() -> None:
    emb = _RecordingEmbedder(returned_dimension=8, batch_size=3)
    vectors = emb.embed([f"t{i}" for i in range(7)])
    assert vectors.shape == (7, 8)
    assert emb.batches == [["t0", "t1", "t2"], ["t3", "t4", "t5"], ["t6"]]
    assert emb.embed([]).shape == (0, 8)


def test_wrong_dimension_from_the_model_is_an_error_naming_both_dimensions() -> None:
    with pytest.raises(EmbeddingDimensionError, match="returned 5-d vectors, the collection expects 8-d"):
        _RecordingEmbedder(returned_dimension=5).embed(["a"])


def test_wrong_number_of_vectors_is_an_error() -> None:
    class Short(_RecordingEmbedder):
        def _embed_batch(self, texts: list[str]) -> np.ndarray:
            return np.ones((len(texts) - 1, 8), dtype=np.float32)

    with pytest.raises(EmbeddingError, match="returned 1 vectors for 2 texts"):
        Short(returned_dimension=8).embed(["a", "b"])
