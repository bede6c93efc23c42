"""A deterministic, offline embedder: signed feature hashing of words and word bigrams.

Texts that share words get similar vectors, so lexical queries find the right chunks in tests and quick
demos, with no model to download. Stable across processes and machines (blake2b, not ``hash()``).

The vector of a text: each distinct word (weight 1) and each distinct pair of neighbouring words (weight
1/2, the words joined by a space) adds ``sign * weight * tf`` to the bucket its blake2b digest names, with
``tf = 1`` for one occurrence and ``1 + ln(count)`` otherwise; words first, then pairs, each in first-seen
order (float32 sums depend on the order, and stored vectors must never change); then the vector is
normalised. A batch is computed at once with numpy: words become ids in a vocabulary the embedder keeps,
pairs become pairs of ids, and only features never seen before are hashed.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from itertools import chain, repeat
from math import log

import numpy as np

from faro_workloads.core.embedding.base import Embedder

_WORD = re.compile(r"\w+", re.UNICODE)
_MAX_COUNT = 4096


def _tf(count: int) -> float:
    """A feature's weight for ``count`` occurrences: 1 for one, ``1 + ln(count)`` beyond (``math.log``, as
    first released: numpy's log may differ in the last bit)."""
    return 1.0 + log(count)


_TF = np.array([0.0, *map(_tf, range(1, _MAX_COUNT))], dtype=np.float64)
""":func:`_tf` of the counts below ``_MAX_COUNT``, for whole batches."""
_PAIR_SHIFT = 32
_MAX_FEATURES = 500_000
"""Words (and apart, word pairs) whose codes are kept; beyond, the kept ones are dropped and found again."""
_FEW_TEXTS = 2
"""Batches up to this many texts are added text by text (a query), larger ones at once."""


def _pair_key(first: int, second: int) -> int:
    """One integer for a pair of word ids."""
    return (first << _PAIR_SHIFT) | second


class HashingEmbedder(Embedder):
    """Unit vectors from hashed word unigrams and bigrams with sublinear term frequency."""

    cheap = True

    def __init__(self, dimension: int = 384, model: str = "faro-hash-v1", batch_size: int = 256) -> None:
        super().__init__(model=model, dimension=dimension, batch_size=batch_size)
        self._lock = threading.Lock()
        self._vocabulary: dict[str, int] = {}
        self._words: list[str] = []
        self._code_buffer = np.zeros(1024, dtype=np.int64)  # the words' codes, then room to grow
        self._pair_codes: dict[int, int] = {}

    def _codes(self, features: list[str]) -> np.ndarray:
        """Each feature's bucket and sign as one code: ``bucket * 2 + (1 if the sign is negative)``."""
        digests = np.fromiter(
            (
                int.from_bytes(hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest(), "little")
                for feature in features
            ),
            dtype=np.uint64,
            count=len(features),
        )
        negative = (digests >> np.uint64(63)) ^ np.uint64(1)
        return ((digests % np.uint64(self.dimension)) * np.uint64(2) + negative).astype(np.int64)

    def _word_ids(self, words: list[str]) -> np.ndarray:
        """The vocabulary ids of ``words``, adding (and hashing) the new ones; the caller holds the lock."""
        vocabulary = self._vocabulary
        new = [word for word in dict.fromkeys(words) if word not in vocabulary]
        if new:
            if len(self._words) + len(new) > _MAX_FEATURES:
                vocabulary.clear()
                self._words = []
                self._pair_codes.clear()  # its keys are ids of the vocabulary just dropped
                new = list(dict.fromkeys(words))
            start = len(self._words)
            vocabulary.update(zip(new, range(start, start + len(new)), strict=True))
            self._words += new
            if len(self._words) > len(self._code_buffer):  # doubled: a new word costs no copy of the others
                grown = np.zeros(max(2 * len(self._code_buffer), len(self._words)), dtype=np.int64)
                grown[:start] = self._code_buffer[:start]
                self._code_buffer = grown
            self._code_buffer[start : len(self._words)] = self._codes(new)
        return np.fromiter(map(vocabulary.__getitem__, words), dtype=np.int64, count=len(words))

    @property
    def _word_codes(self) -> np.ndarray:
        """The codes of the vocabulary's words, by id (a view; the caller holds the lock)."""
        return self._code_buffer[: len(self._words)]

    def _pair_codes_of(self, pairs: np.ndarray) -> np.ndarray:
        """The codes of word-id ``pairs`` (``first << 32 | second``), hashing those never seen; the caller
        holds the lock."""
        known = self._pair_codes
        codes = np.fromiter(map(known.get, pairs.tolist(), repeat(-1)), dtype=np.int64, count=len(pairs))
        unseen = np.flatnonzero(codes < 0)
        if len(unseen):
            keys = pairs[unseen].tolist()
            words, low = self._words, (1 << _PAIR_SHIFT) - 1
            codes[unseen] = self._codes([f"{words[key >> _PAIR_SHIFT]} {words[key & low]}" for key in keys])
            if len(known) + len(keys) > _MAX_FEATURES:
                known.clear()
            known.update(zip(keys, codes[unseen].tolist(), strict=True))
        return codes

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        rows = [_WORD.findall(text.lower()) for text in texts]
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if len(rows) <= _FEW_TEXTS:
            for vector, words in zip(out, rows, strict=True):
                self._add_text(vector, words)
        else:
            self._add_batch(out, rows)
        for row in range(len(out)):
            norm = np.linalg.norm(out[row])
            if norm > 0:
                out[row] /= norm
            else:
                out[row, 0] = 1.0  # no words at all: a fixed unit vector, never NaN
        return out

    def _add_text(self, vector: np.ndarray, words: list[str]) -> None:
        """Add one text's features to ``vector``, feature by feature in first-seen order (a query's path:
        numpy's fixed cost per call would outweigh the work)."""
        with self._lock:
            vocabulary = self._vocabulary
            if all(map(vocabulary.__contains__, words)):
                ids = list(map(vocabulary.__getitem__, words))
            else:
                ids = self._word_ids(words).tolist()
            unigrams = Counter(ids)
            pairs = Counter(map(_pair_key, ids, ids[1:]))
            codes = self._word_codes[list(unigrams)].tolist()
            known = self._pair_codes.get
            pair_codes = list(map(known, pairs))
            if None in pair_codes:
                pair_codes = self._pair_codes_of(
                    np.fromiter(pairs, dtype=np.int64, count=len(pairs))
                ).tolist()
            codes += pair_codes
        terms = [
            _tf(count) * weight
            for counter, weight in ((unigrams, 1.0), (pairs, 0.5))
            for count in counter.values()
        ]
        np.add.at(
            vector,
            [code >> 1 for code in codes],
            [-term if code & 1 else term for code, term in zip(codes, terms, strict=True)],
        )

    def _add_batch(self, out: np.ndarray, rows: list[list[str]]) -> None:
        """Add every text's features to its row of ``out`` at once: each (text, feature) occurrence becomes
        one integer; the distinct ones, with first position and count, go back in text order."""
        words = list(chain.from_iterable(rows))
        row_of = np.repeat(np.arange(len(rows), dtype=np.int64), [len(row) for row in rows])
        adjacent = row_of[:-1] == row_of[1:]
        with self._lock:
            ids = self._word_ids(words)
            pairs, pair_index = np.unique(
                (ids[:-1][adjacent] << _PAIR_SHIFT) | ids[1:][adjacent], return_inverse=True
            )
            table = np.concatenate((self._word_codes, self._pair_codes_of(pairs)))  # words, then pairs
        words_known = len(table) - len(pairs)
        span = len(table)  # words before pairs in the stream, as in each text's order
        stream = np.concatenate(
            (row_of * span + ids, row_of[:-1][adjacent] * span + words_known + pair_index)
        )
        distinct, first, counts = np.unique(stream, return_index=True, return_counts=True)
        row, feature = np.divmod(distinct, span)
        order = np.lexsort((first, row))
        row, feature, counts = row[order], feature[order], counts[order]
        codes = table[feature]
        weights = _TF[np.minimum(counts, _MAX_COUNT - 1)]
        frequent = np.flatnonzero(counts >= _MAX_COUNT)
        weights[frequent] = list(map(_tf, counts[frequent].tolist()))
        weights[feature >= words_known] *= 0.5
        signed = np.where(codes & 1, -weights, weights)
        np.add.at(out.reshape(-1), row * self.dimension + (codes >> 1), signed)
