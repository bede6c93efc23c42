"""Character spans of one text, and the two ways every strategy turns them into chunks.

A span is a ``(start, end)`` pair of offsets into the canonical text. Strategies cut a text into small
*pieces* (spans that cover every non-whitespace character, in order), then :func:`pack_spans` merges
neighbouring pieces into chunks of at most ``size`` tokens; :func:`token_windows` cuts a span into runs
of whole tokens when no separator is left. No substring is ever re-joined or re-tokenized: sizes come from
the :class:`~faro_workloads.core.tokenization.TextMeasure` of the whole text.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import deque

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
    """Windows of ``size`` whole tokens over ``text[start:end]``, each starting ``step`` tokens after the
    previous one, stripped. A window runs up to the next window's first token, so characters that are no
    token (e.g. control characters the tokenizer drops) still belong to a window."""
    if size < 1 or not 1 <= step <= size:
        raise ValueError(f"token windows need 1 <= step <= size, got size={size}, step={step}")
    text, starts = measure.text, measure.token_starts
    first = bisect_right(measure.token_ends, start)
    stop = bisect_left(starts, end)
    if stop - first <= size:
        part = strip_span(text, start, end)
        return [part] if part is not None else []
    windows: list[Span] = []
    index = first
    while True:
        last = min(index + size, stop)
        window_start = start if index == first else max(start, starts[index])
        window_end = end if last == stop else min(end, starts[last])
        part = strip_span(text, window_start, window_end)
        # Stripping whitespace-only "tokens" (character mode) can leave a window inside its neighbour.
        if part is None or (windows and part[1] <= windows[-1][1]):
            pass
        elif windows and part[0] == windows[-1][0]:
            windows[-1] = part
        else:
            windows.append(part)
        if last == stop:
            return windows
        index += step


def pack_spans(measure: TextMeasure, pieces: list[Span], size: int, overlap: int) -> list[Span]:
    """Greedily merge consecutive ``pieces`` (each at most ``size`` tokens) into chunks of at most
    ``size`` tokens. Each new chunk starts with the trailing pieces of the previous one that together hold
    at most ``overlap`` tokens (and still leave room for the next piece)."""
    chunks: list[Span] = []
    window: deque[Span] = deque()
    tokens = measure.tokens
    for piece in pieces:
        if window and tokens(window[0][0], piece[1]) > size:
            chunks.append((window[0][0], window[-1][1]))
            while window and (
                tokens(window[0][0], window[-1][1]) > overlap or tokens(window[0][0], piece[1]) > size
            ):
                window.popleft()
        window.append(piece)
    if window:
        chunks.append((window[0][0], window[-1][1]))
    return chunks
