"""The ``sentence`` strategy: whole sentences packed up to the chunk size, overlapping by whole sentences.

Sentences come from :mod:`~faro_workloads.core.chunking.sentence_boundaries` (Punkt, no downloaded data).
"""

from __future__ import annotations

from faro_workloads.core.chunking.recursive import LINE, RecursiveSplitter
from faro_workloads.core.chunking.sentence_boundaries import sentence_spans
from faro_workloads.core.chunking.size_bounds import fits
from faro_workloads.core.chunking.span_packing import Span, pack_spans
from faro_workloads.core.documents import ChunkSpan
from faro_workloads.core.tokenization import TextMeasure


def sentence_chunks(measure: TextMeasure, size: int, overlap: int) -> list[ChunkSpan]:
    """Chunks of whole sentences; a sentence too large for a chunk (more than ``size`` tokens or
    ``size * MAX_CHARS_PER_TOKEN`` characters) is cut by the recursive strategy."""
    text = measure.text
    return [
        ChunkSpan(text[start:end], start, end, {"strategy": "sentence"})
        for start, end in pack_spans(measure, sentence_pieces(measure, size, overlap), size, overlap)
    ]


def sentence_pieces(measure: TextMeasure, size: int, overlap: int) -> list[Span]:
    """The sentences of the text, each fitting in a chunk: one too large is cut by the recursive strategy
    (into parts overlapping by ``overlap`` tokens)."""
    text = measure.text
    splitter = RecursiveSplitter(measure, size, overlap)
    pieces: list[Span] = []
    for sentence in sentence_spans(text, 0, len(text)):
        if fits(measure, *sentence, size):
            pieces.append(sentence)
        else:
            pieces.extend(splitter.split(*sentence, level=LINE))
    return pieces
