"""How large one chunk may be: at most ``size`` tokens and at most ``size * MAX_CHARS_PER_TOKEN`` characters.

Tokens alone do not bound a chunk's length. MiniLM's WordPiece tokenizer turns a word of more than 100
characters (a run of one character, a base64 blob without ``+`` or ``/``, a long word in a script the
vocabulary lacks) into a single ``[UNK]`` token however long it is, and counts no token at all for control
and zero-width characters or whitespace. So every strategy also caps chunks in characters, and cuts a
token (or the text between tokens) longer than :data:`MAX_CHARS_PER_TOKEN` characters into *units* of at
most that many characters where it would otherwise cut between tokens.
"""

from __future__ import annotations

import math
import unicodedata
from bisect import bisect_left, bisect_right
from itertools import pairwise

from faro_workloads.core.tokenization import TextMeasure

# The longest entry of MiniLM's WordPiece vocabulary matches 18 characters ("telecommunications"); with the
# space before it, no token of real words spans more than 19 characters, and ordinary prose averages 4 to 6
# characters a token (the character fallback counts 4). A chunk of words never gets near 20 characters a
# token, so the cap leaves such chunks unchanged and only stops text the tokenizer cannot split.
MAX_CHARS_PER_TOKEN = 20

_REGIONAL_INDICATORS = range(0x1F1E6, 0x1F200)


def max_chars(tokens: int) -> int:
    """The most characters a chunk (or an overlap) of ``tokens`` tokens may span."""
    return tokens * MAX_CHARS_PER_TOKEN


def fits(measure: TextMeasure, start: int, end: int, size: int) -> bool:
    """Whether ``text[start:end]`` may be one chunk of at most ``size`` tokens."""
    return end - start <= max_chars(size) and measure.tokens(start, end) <= size


def fit_end(measure: TextMeasure, start: int, size: int) -> float:
    """The largest ``end`` for which ``text[start:end]`` fits in ``size`` tokens (``fits`` is true exactly
    up to it), or infinity. Computed once per chunk start, so packing needs no count per piece."""
    first = bisect_right(measure.token_ends, start)  # tokens ending at or before start do not count
    starts = measure.token_starts
    token_end = starts[first + size] if first + size < len(starts) else math.inf
    return min(token_end, start + max_chars(size))


def unit_bounds(measure: TextMeasure, start: int, end: int) -> list[int]:
    """Ascending offsets from ``start`` to ``end`` that cut ``text[start:end]`` into *units*.

    A unit is a token together with the characters up to the next token (the first unit starts at
    ``start``, the last ends at ``end``), so ordinary text has one unit per token. A unit longer than
    :data:`MAX_CHARS_PER_TOKEN` characters is cut into pieces of at most that many, never just before a
    combining mark, a joiner or a variation selector, nor inside a pair of flag letters. Only a unit's
    first character can start a token, so ``n`` consecutive units touch at most ``n`` tokens (of a
    tokenizer whose tokens share no characters) and span at most ``n * MAX_CHARS_PER_TOKEN`` characters.
    """
    starts = measure.token_starts
    first = bisect_right(measure.token_ends, start)
    stop = bisect_left(starts, end)
    # Tokens sharing characters (several tokens of one character) may start before ``start``.
    inside = bisect_left(starts, start, first + 1, max(first + 1, stop))
    bounds = [start, *[start] * (inside - first - 1), *starts[inside:stop], end]
    if all(later - earlier <= MAX_CHARS_PER_TOKEN for earlier, later in pairwise(bounds)):
        return bounds
    text = measure.text
    cut_bounds = [start]
    for earlier, later in pairwise(bounds):
        position = earlier
        while later - position > MAX_CHARS_PER_TOKEN:
            position = grapheme_cut(text, position, position + MAX_CHARS_PER_TOKEN)
            cut_bounds.append(position)
        cut_bounds.append(later)
    return cut_bounds


def grapheme_cut(text: str, low: int, cut: int) -> int:
    """``cut``, moved back (but not to ``low``) until it does not split a user-perceived character."""
    for candidate in range(cut, low, -1):
        if not _joined(text, low, candidate):
            return candidate
    return cut  # nothing but joining characters: any cut is as good as another


def _joined(text: str, low: int, position: int) -> bool:
    """Whether ``text[position - 1]`` and ``text[position]`` belong to one grapheme cluster (simplified:
    combining marks, joiners, emoji modifiers and flag pairs; ``low`` is taken to be a cluster boundary)."""
    char, before = text[position], text[position - 1]
    if unicodedata.category(char) in ("Mn", "Mc", "Me") or char == "\u200d" or before == "\u200d":
        return True
    code = ord(char)
    if 0xFE00 <= code <= 0xFE0F or 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:
        return True  # variation selectors, skin tones, emoji tag characters
    if code in _REGIONAL_INDICATORS and ord(before) in _REGIONAL_INDICATORS:
        before_start = position - 1
        while before_start > low and ord(text[before_start - 1]) in _REGIONAL_INDICATORS:
            before_start -= 1
        flag_letters = position - before_start
        return flag_letters % 2 == 1  # an odd count before: ``before`` starts a flag that ``char`` ends
    return False
