"""The ``recursive`` strategy: cut at the coarsest separator that yields pieces that fit, then merge.

A span larger than the chunk size is cut at paragraphs (blank lines); parts still too large are cut at
line ends, then at sentence ends, then at whitespace, and a single word still too large is cut into runs
of whole tokens (a token longer than ``MAX_CHARS_PER_TOKEN`` characters, such as the single ``[UNK]`` of a
2 MB run of one letter, into runs of characters). "Too large" means more than ``size`` tokens or more than
``size * MAX_CHARS_PER_TOKEN`` characters. The pieces are then packed greedily into chunks within both
bounds, each new chunk repeating the trailing pieces of the previous one up to ``overlap`` tokens.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial

from faro_workloads.core.chunking.sentence_boundaries import PARAGRAPH_BREAK, sentence_spans
from faro_workloads.core.chunking.size_bounds import fits
from faro_workloads.core.chunking.span_packing import Span, pack_spans, split_on, strip_span, token_windows
from faro_workloads.core.documents import ChunkSpan
from faro_workloads.core.tokenization import TextMeasure

_LINE_BREAK = re.compile(r"\n")
_WHITESPACE = re.compile(r"\s+")

Cutter = Callable[[str, int, int], list[Span]]

# Separator levels, coarsest first.
PARAGRAPH, LINE, SENTENCE, WORD = range(4)
_CUTTERS: tuple[Cutter, ...] = (
    partial(split_on, PARAGRAPH_BREAK),
    partial(split_on, _LINE_BREAK),
    sentence_spans,
    partial(split_on, _WHITESPACE),
)


class RecursiveSplitter:
    """Cuts spans of one text into pieces that fit in ``size`` tokens (:func:`fits`), at the coarsest
    separator possible.

    Runs of units (tokens, see :func:`token_windows`) cut out of an over-long word hold
    ``min(overlap, size - overlap)`` units (``size`` without overlap), so that packing them still gives
    full chunks that overlap by ``overlap`` tokens.
    """

    def __init__(self, measure: TextMeasure, size: int, overlap: int) -> None:
        self.measure = measure
        self.size = size
        self.window = min(overlap, size - overlap) if overlap > 0 else size

    def split(self, start: int, end: int, level: int = PARAGRAPH) -> list[Span]:
        """The pieces of ``text[start:end]``, stripped, in order, covering all its non-whitespace text."""
        span = strip_span(self.measure.text, start, end)
        pieces: list[Span] = []
        if span is not None:
            self._split_into(pieces, span, level)
        return pieces

    def _split_into(self, pieces: list[Span], span: Span, level: int) -> None:
        if fits(self.measure, *span, self.size):
            pieces.append(span)
            return
        # Recursion depth is bounded by the number of separator levels.
        while level < len(_CUTTERS):
            parts = _CUTTERS[level](self.measure.text, *span)
            level += 1
            if len(parts) > 1:
                for part in parts:
                    self._split_into(pieces, part, level)
                return
            if parts:
                span = parts[0]
        pieces.extend(token_windows(self.measure, *span, self.window, self.window))


def recursive_chunks(measure: TextMeasure, size: int, overlap: int) -> list[ChunkSpan]:
    """Chunk the whole text of ``measure`` with the recursive strategy."""
    return spans_to_chunks(measure, 0, len(measure.text), size, overlap, {"strategy": "recursive"})


def spans_to_chunks(
    measure: TextMeasure, start: int, end: int, size: int, overlap: int, metadata: dict[str, object]
) -> list[ChunkSpan]:
    """Recursive chunks of ``text[start:end]``, each with its own copy of ``metadata``."""
    text = measure.text
    pieces = RecursiveSplitter(measure, size, overlap).split(start, end)
    return [
        ChunkSpan(text[s:e], s, e, _copy(metadata)) for s, e in pack_spans(measure, pieces, size, overlap)
    ]


def _copy(metadata: dict[str, object]) -> dict[str, object]:
    return {key: list(value) if isinstance(value, list) else value for key, value in metadata.items()}
