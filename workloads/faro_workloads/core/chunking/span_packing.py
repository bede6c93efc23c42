"""Character spans of one text, and the two ways every strategy turns them into chunks.

A span is a ``(start, end)`` pair of offsets into the canonical text. Strategies cut a text into small
*pieces* (spans that cover every non-whitespace character, in order), then :func:`pack_spans` merges
neighbouring pieces into chunks of at most ``size`` tokens and ``max_chars(size)`` characters
(:mod:`~faro_workloads.core.chunking.size_bounds`); :func:`token_windows` cuts a span into runs of whole
tokens, or of characters inside a token too long for a chunk, when no separator is left. No substring is
ever re-joined or re-tokenized: sizes come from the
:class:`~faro_workloads.core.tokenization.TextMeasure` of the whole text.
"""

from __future__ import annotations

import math
import re

from faro_workloads.core.chunking.size_bounds import fit_end, fits, max_chars, unit_bounds
from faro_workloads.core.tokenization import TextMeasure

Span = tuple[int, int]


def strip_span(text: str, start: int, end: int) -> Span | None:
    """``(start, end)`` moved inwards past whitespace; None when nothing but whitespace is left."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if start < end else None


def cut_between(text: str, start: int, end: int, cuts: list[int]) -> list[Span]:
    """Cut ``text[start:end]`` at the ascending offsets ``cuts`` and strip each part; empty parts go."""
    spans: list[Span] = []
    for cut in (*cuts, end):
        if start < cut <= end:
            part = strip_span(text, start, cut)
            if part is not None:
                spans.append(part)
            start = cut
    return spans


def split_on(pattern: re.Pattern[str], text: str, start: int, end: int) -> list[Span]:
    """The stripped, non-empty parts of ``text[start:end]`` between matches of ``pattern``."""
    spans: list[Span] = []
    for match in pattern.finditer(text, start, end):
        part = strip_span(text, start, match.start())
        if part is not None:
            spans.append(part)
        start = match.end()
    part = strip_span(text, start, end)
    if part is not None:
        spans.append(part)
    return spans


def token_windows(measure: TextMeasure, start: int, end: int, size: int, step: int) -> list[Span]:
    """Windows of ``size`` units over ``text[start:end]``, each starting ``step`` units after the previous
    one, stripped. A unit is a token with the characters up to the next token, cut every
    ``MAX_CHARS_PER_TOKEN`` characters when longer (see :func:`unit_bounds`), so a window holds at most
    ``size`` tokens and ``max_chars(size)`` characters, and neighbours share at most ``size - step`` tokens.
    Characters that are no token (e.g. control characters the tokenizer drops) still belong to a window."""
    if size < 1 or not 1 <= step <= size:
        raise ValueError(f"token windows need 1 <= step <= size, got size={size}, step={step}")
    text = measure.text
    bounds = unit_bounds(measure, start, end)
    units = len(bounds) - 1
    if units <= size:
        part = strip_span(text, start, end)
        return [part] if part is not None else []
    windows: list[Span] = []
    index = 0
    while True:
        last = min(index + size, units)
        part = strip_span(text, bounds[index], bounds[last])
        # Stripping whitespace-only "tokens" (character mode) can leave a window inside its neighbour.
        if part is None or (windows and part[1] <= windows[-1][1]):
            pass
        elif windows and part[0] == windows[-1][0]:
            windows[-1] = part
        else:
            windows.append(part)
        if last == units:
            return windows
        index += step


def pack_spans(measure: TextMeasure, pieces: list[Span], size: int, overlap: int) -> list[Span]:
    """Greedily merge consecutive ``pieces`` (each fitting in ``size`` tokens, see :func:`fits`) into chunks
    of at most ``size`` tokens and ``max_chars(size)`` characters. Each new chunk starts with the trailing
    pieces of the previous one that together hold at most ``overlap`` tokens and ``max_chars(overlap)``
    characters (and still leave room for the next piece)."""
    chunks: list[Span] = []
    window: list[Span] = []
    limit = -math.inf  # the furthest end the current chunk may reach (fit_end of its start)
    for piece in pieces:
        if window and piece[1] > limit:
            chunks.append((window[0][0], window[-1][1]))
            window = window[_overlap_start(measure, window, piece[1], size, overlap) :]
            if window:
                limit = fit_end(measure, window[0][0], size)
        if not window:
            limit = fit_end(measure, piece[0], size)
        window.append(piece)
    if window:
        chunks.append((window[0][0], window[-1][1]))
    return chunks


def _overlap_start(measure: TextMeasure, window: list[Span], next_end: int, size: int, overlap: int) -> int:
    """Index of the first piece of ``window`` that the next chunk repeats (``len(window)``: none).

    The pieces kept are the longest tail that holds at most ``overlap`` tokens and characters and fits in
    one chunk with the text up to ``next_end``. Both counts only shrink as the tail does, so the tail is
    found from the end, at a cost of the pieces kept rather than the pieces dropped.
    """
    last_end, overlap_chars = window[-1][1], max_chars(overlap)
    keep = len(window)
    while keep > 0:
        start = window[keep - 1][0]
        if not (
            last_end - start <= overlap_chars
            and measure.tokens(start, last_end) <= overlap
            and fits(measure, start, next_end, size)
        ):
            break
        keep -= 1
    return keep
