"""Sentence boundaries, for the ``sentence`` strategy and the sentence level of the ``recursive`` one.

They come from NLTK's Punkt algorithm used without any downloaded model (downloads fail
offline): an untrained :class:`PunktSentenceTokenizer` seeded with common English abbreviations, so that
"Dr. Smith arrived at 5 p.m. on Monday." stays one sentence. A blank line always ends a sentence.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from faro_workloads.core.chunking.size_bounds import grapheme_cut
from faro_workloads.core.chunking.span_packing import Span, cut_between, split_on

if TYPE_CHECKING:
    from nltk.tokenize.punkt import PunktSentenceTokenizer

# Lower case, without the final period, as Punkt stores them.
ABBREVIATIONS = frozenset(
    {
        "mr", "mrs", "ms", "dr", "prof", "rev", "hon", "jr", "sr", "st", "mt", "ave", "rd", "blvd",
        "gen", "col", "lt", "sgt", "capt", "gov", "sen", "rep", "pres", "e.g", "i.e", "etc", "vs",
        "cf", "viz", "al", "approx", "est", "fig", "figs", "eq", "no", "nos", "vol", "vols", "ch",
        "sec", "pp", "ed", "eds", "ref", "dept", "univ", "inc", "ltd", "co", "corp", "bros", "assn",
        "a.m", "p.m", "u.s", "u.k", "u.n", "ph.d", "b.sc", "m.sc", "jan", "feb", "mar", "apr", "jun",
        "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    }
)  # fmt: skip

PARAGRAPH_BREAK = re.compile(r"\n(?:[^\S\n]*\n)+")
# Punkt runs on blocks of at most this many characters (it is slow, and NLTK's regex guard times out
# on very long inputs); a longer paragraph is cut where a sentence likely ends, else at whitespace, else
# (a run without spaces) between two user-perceived characters.
_PUNKT_BLOCK_CHARS = 20_000
_LIKELY_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+(?![a-z])")


@lru_cache(maxsize=1)
def _punkt() -> PunktSentenceTokenizer:
    # Imported here: importing nltk takes about a second, and only sentence splitting needs it.
    from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

    params = PunktParameters()
    params.abbrev_types = set(ABBREVIATIONS)
    return PunktSentenceTokenizer(params)


def load_sentence_splitter() -> None:
    """Import and build the sentence splitter now (about a second), so the first document a service is
    sent does not wait for it."""
    _punkt()


def sentence_spans(text: str, start: int, end: int) -> list[Span]:
    """The sentences of ``text[start:end]``, stripped, in order, covering every non-whitespace character."""
    sentences: list[Span] = []
    for paragraph_start, paragraph_end in split_on(PARAGRAPH_BREAK, text, start, end):
        for block_start, block_end in _punkt_blocks(text, paragraph_start, paragraph_end):
            block = text[block_start:block_end]
            cuts = [block_start + first for first, _ in _punkt().span_tokenize(block)]
            sentences.extend(cut_between(text, block_start, block_end, cuts))
    return sentences


def _punkt_blocks(text: str, start: int, end: int) -> list[Span]:
    """``text[start:end]`` in blocks small enough for Punkt, cut after a likely sentence end if any."""
    blocks: list[Span] = []
    while end - start > _PUNKT_BLOCK_CHARS:
        low, high = start + _PUNKT_BLOCK_CHARS // 2, start + _PUNKT_BLOCK_CHARS
        cut = -1
        for match in _LIKELY_SENTENCE_END.finditer(text, low, high):
            cut = match.end()
        if cut == -1:
            cut = max(text.rfind("\n", low, high), text.rfind(" ", low, high)) + 1
        if cut == 0:  # no space either (rfind gave -1)
            cut = grapheme_cut(text, low, high)
        blocks.append((start, cut))
        start = cut
    blocks.append((start, end))
    return blocks
