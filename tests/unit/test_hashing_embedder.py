"""The deterministic hashing embedder and the batching/dimension checks every embedder shares."""

from __future__ import annotations

import hashlib
import random
import re
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from math import log

import numpy as np
import pytest

from faro_workloads.core.embedding import EmbeddingDimensionError, EmbeddingError, hashing
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


def _reference_vector(text: str, dimension: int) -> np.ndarray:
    """The embedder's definition, feature by feature (as first released): what both of its paths must give."""
    words = re.findall(r"\w+", text.lower())
    indices: list[int] = []
    terms: list[float] = []
    for features, weight in ((Counter(words), 1.0), (Counter(map(" ".join, pairwise(words))), 0.5)):
        for feature, count in features.items():
            value = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "little")
            indices.append(value % dimension)
            terms.append(
                (1.0 if value >> 63 else -1.0) * (weight if count == 1 else (1.0 + log(count)) * weight)
            )
    vector = np.zeros(dimension, dtype=np.float32)
    np.add.at(vector, indices, np.asarray(terms, dtype=np.float64))  # in this order, float64 into float32
    norm = np.linalg.norm(vector)
    if norm == 0:
        vector[0] = 1.0
        return vector
    return vector / norm


def _texts(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    words = ["qdrant", "outbox", "Ünïcode", "snake_case", "42", "a", "the", "pgvector", "x" * 40, "wörds"]
    return [
        " ".join(rng.choices(words, k=rng.randint(0, 60))) + rng.choice(["", ".", " !!"])
        for _ in range(count)
    ]


@pytest.mark.parametrize("batch_size", [1, 2, 3, 64])
def test_one_text_at_a_time_and_whole_batches_give_the_reference_vectors_bit_for_bit(batch_size: int) -> None:
    texts = _texts(150, seed=batch_size)
    vectors = HashingEmbedder(dimension=96, batch_size=batch_size).embed(texts)
    expected = np.stack([_reference_vector(text, 96) for text in texts])
    np.testing.assert_array_equal(vectors, expected)


def test_a_vocabulary_that_keeps_growing_keeps_giving_the_reference_vectors() -> None:
    """Thousands of new words, in batches and one text at a time (a query service meeting new words)."""
    embedder = HashingEmbedder(dimension=40, batch_size=64)
    texts = [f"w{i} w{i + 1} x{i} shared" for i in range(1500)]
    np.testing.assert_array_equal(
        embedder.embed(texts[:1000]), [_reference_vector(t, 40) for t in texts[:1000]]
    )
    for text in texts[1000:1100]:
        np.testing.assert_array_equal(embedder.embed_one(text), _reference_vector(text, 40))
    np.testing.assert_array_equal(
        embedder.embed(texts[1100:]), [_reference_vector(t, 40) for t in texts[1100:]]
    )
    assert len(embedder._words) > 3000


def test_the_kept_codes_are_dropped_beyond_their_bound_and_vectors_stay_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    texts = [f"word{i} word{i + 1} word{i + 2} shared" for i in range(200)]
    expected = HashingEmbedder(dimension=64).embed(texts)
    monkeypatch.setattr(hashing, "_MAX_FEATURES", 25)
    bounded = HashingEmbedder(dimension=64, batch_size=8)
    np.testing.assert_array_equal(bounded.embed(texts), expected)
    np.testing.assert_array_equal(bounded.embed(texts[:2]), expected[:2])
    assert len(bounded._words) <= 25 + 8 * 4 and len(bounded._pair_codes) <= 25 + 8 * 3


def test_a_word_repeated_beyond_the_weight_table_weighs_its_logarithm() -> None:
    text = "spam " * 5000 + "eggs"
    for batch in ([text], [text, "eggs spam", "spam"]):
        vector = HashingEmbedder(dimension=32).embed(batch)[0]
        np.testing.assert_array_equal(vector, _reference_vector(text, 32))


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


def test_threads_sharing_one_embedder_get_the_vectors_each_would_alone() -> None:
    shared = HashingEmbedder(dimension=48, batch_size=16)
    batches = [[f"{text} t{n}w{i}" for i, text in enumerate(_texts(80, seed=100 + n))] for n in range(6)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch between any two bytecodes: the vocabulary is shared
    try:
        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(shared.embed, batches))
    finally:
        sys.setswitchinterval(interval)
    for texts, vectors in zip(batches, results, strict=True):
        np.testing.assert_array_equal(vectors, HashingEmbedder(dimension=48).embed(texts))
