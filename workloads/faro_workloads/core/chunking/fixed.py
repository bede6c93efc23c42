"""The ``fixed`` strategy, the baseline: windows of ``size`` tokens, each ``size - overlap`` tokens after
the previous one, cut at token boundaries (at characters with the character counter). A token longer than
``MAX_CHARS_PER_TOKEN`` characters counts as one unit per that many characters, so no window is longer
than ``size * MAX_CHARS_PER_TOKEN`` characters."""

from __future__ import annotations

from faro_workloads.core.chunking.span_packing import token_windows
from faro_workloads.core.documents import ChunkSpan
from faro_workloads.core.tokenization import TextMeasure


def fixed_chunks(measure: TextMeasure, size: int, overlap: int) -> list[ChunkSpan]:
    """Neighbouring chunks share exactly ``overlap`` units (tokens, in ordinary text)."""
    text = measure.text
    return [
        ChunkSpan(text[start:end], start, end, {"strategy": "fixed"})
        for start, end in token_windows(measure, 0, len(text), size, size - overlap)
    ]
