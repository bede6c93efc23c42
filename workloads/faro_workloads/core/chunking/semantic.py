"""The ``semantic`` strategy: cut where the meaning moves on.

Each sentence is embedded with its neighbours (a window of one sentence either side, which steadies the
signal of short sentences) by the pipeline's own model; the cosine distance between neighbouring windows is
high where the text changes subject. The cuts are the gaps whose distance is above the ``percentile``-th
percentile of the document's distances, so the strategy adapts to how uniform each document is. The
sections between cuts are then held to the size bounds: a section too large is packed into chunks of whole
sentences (overlapping as the ``sentence`` strategy overlaps), and a section smaller than a quarter of a
chunk joins the neighbour it is closer to (its weaker cut goes), so that one-line sections do not become
chunks of their own. Neighbouring sections do not overlap.

The extra cost is one embedding per sentence (counted by ``faro_chunking_sentence_embeddings_total``),
against one per chunk for the embedding itself: several times the embedding work of the other strategies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import pairwise

import numpy as np

from faro_workloads.core.chunking.sentence import sentence_pieces
from faro_workloads.core.chunking.span_packing import Span, pack_spans
from faro_workloads.core.documents import ChunkSpan
from faro_workloads.core.metrics import SENTENCE_EMBEDDINGS
from faro_workloads.core.tokenization import TextMeasure

SentenceEmbedding = Callable[[list[str]], Sequence[np.ndarray]]
"""Embeds texts (the pipeline's model): one vector per text, in order."""

WINDOW_NEIGHBOURS = 1
"""Sentences on either side embedded with each sentence."""
MAX_WINDOW_CHARS = 2000
"""A window's text is cut to this many characters (the model would truncate it anyway)."""
SMALL_SECTION = 4
"""A section holding less than ``size // SMALL_SECTION`` tokens joins a neighbour."""


def semantic_chunks(
    measure: TextMeasure, size: int, overlap: int, *, embed: SentenceEmbedding, percentile: int
) -> list[ChunkSpan]:
    """Chunks of whole sentences cut where neighbouring sentences' embeddings drift apart (see the module
    docstring); a sentence too large for a chunk is cut as the ``sentence`` strategy cuts it."""
    text = measure.text
    pieces = sentence_pieces(measure, size, overlap)
    spans: list[Span] = []
    for section in _sections(measure, pieces, size, embed, percentile):
        spans.extend(pack_spans(measure, section, size, overlap))
    return [ChunkSpan(text[start:end], start, end, {"strategy": "semantic"}) for start, end in spans]


def neighbour_distances(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """The cosine distance between each vector and the next (a zero vector is at distance 1 from all)."""
    matrix = np.asarray(vectors, dtype=np.float64).reshape(len(vectors), -1)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit = matrix / np.where(norms == 0, 1.0, norms)
    return 1.0 - np.einsum("ij,ij->i", unit[:-1], unit[1:])


def breakpoints(distances: np.ndarray, percentile: int) -> list[int]:
    """The indexes ``i`` (from 1) where a new section starts before window ``i``: where
    ``distances[i - 1]`` (between windows ``i - 1`` and ``i``) is above the ``percentile``-th percentile of
    all of them. None when every distance is the same (nothing stands out)."""
    if len(distances) == 0:
        return []
    threshold = float(np.percentile(distances, percentile))
    return [int(i) + 1 for i in np.flatnonzero(distances > threshold)]


def _sections(
    measure: TextMeasure, pieces: list[Span], size: int, embed: SentenceEmbedding, percentile: int
) -> list[list[Span]]:
    """``pieces`` (sentences) grouped into sections between breakpoints, small sections joined."""
    if len(pieces) < 3:
        return [pieces] if pieces else []
    text = measure.text
    windows = []
    for i in range(len(pieces)):
        first, last = max(0, i - WINDOW_NEIGHBOURS), min(len(pieces) - 1, i + WINDOW_NEIGHBOURS)
        windows.append(text[pieces[first][0] : pieces[last][1]][:MAX_WINDOW_CHARS])
    distances = neighbour_distances(embed(windows))
    SENTENCE_EMBEDDINGS.inc(len(windows))
    starts = _join_small(measure, pieces, [0, *breakpoints(distances, percentile)], distances, size)
    return [pieces[start:end] for start, end in pairwise([*starts, len(pieces)])]


def _join_small(
    measure: TextMeasure, pieces: list[Span], starts: list[int], distances: np.ndarray, size: int
) -> list[int]:
    """``starts`` (the first piece of each section) without the cuts that leave a section of fewer than
    ``size // SMALL_SECTION`` tokens: such a section joins the neighbour it is closer to (the smaller of
    the distances at its two cuts). Packing keeps joined sections within the size bounds."""
    small = size // SMALL_SECTION
    starts = list(starts)
    while len(starts) > 1:
        ends = [*starts[1:], len(pieces)]
        tiny = next(
            (
                j
                for j, (a, b) in enumerate(zip(starts, ends, strict=True))
                if measure.tokens(pieces[a][0], pieces[b - 1][1]) < small
            ),
            None,
        )
        if tiny is None:
            break
        # Section j's cut before it is starts[j] (j > 0), after it starts[j + 1] (if any).
        before = distances[starts[tiny] - 1] if tiny > 0 else np.inf
        after = distances[starts[tiny + 1] - 1] if tiny + 1 < len(starts) else np.inf
        del starts[tiny if before <= after else tiny + 1]
    return starts
