"""The ``markdown`` strategy: one section per heading, each chunk labelled with its heading path.

The text is parsed with markdown-it-py (CommonMark), so a ``#`` line inside a fenced or indented code block
is no heading. Only top-level headings (not those inside lists or block quotes) start sections. A section
larger than the chunk size is cut with the recursive strategy; small neighbouring sections are never
merged across a heading, and there is no overlap across headings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from markdown_it import MarkdownIt

from faro_workloads.core.chunking.recursive import spans_to_chunks
from faro_workloads.core.chunking.size_bounds import fits
from faro_workloads.core.chunking.span_packing import strip_span
from faro_workloads.core.documents import ChunkSpan
from faro_workloads.core.tokenization import TextMeasure

# Line ends as markdown-it counts them, for its token line maps.
_LINE_END = re.compile(r"\r\n?|\n")
# A line that may be (or underline) a top-level heading: up to 3 spaces, then 1-6 "#" and a space, tab or
# line end (ATX), or only "=" or only "-" characters (a setext underline). Text without one has no
# heading, and is not parsed: parsing 5 MB of one-word lines takes markdown-it over 10 s of CPU.
_HEADING_CANDIDATE = re.compile(
    r"(?:^|(?<=[\r\n])) {0,3}(?:#{1,6}(?=[ \t\r\n]|\Z)|(?:=+|-+)[ \t]*(?=[\r\n]|\Z))"
)


@dataclass(frozen=True, slots=True)
class Section:
    """``text[start:end]``, from a heading line (or the start of the text) up to the next heading."""

    start: int
    end: int
    headings: tuple[str, ...]


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    # Block structure is all that is needed: skipping inline parsing makes it several times faster.
    return MarkdownIt("commonmark").disable("inline")


def markdown_sections(text: str) -> list[Section]:
    """The sections of a Markdown text, in order; together they cover the whole text."""
    if _HEADING_CANDIDATE.search(text) is None:
        return [Section(0, len(text), ())]
    tokens = _parser().parse(text)
    headings: list[tuple[int, int, str]] = []  # (first line, level, title)
    for index, token in enumerate(tokens):
        if token.type == "heading_open" and token.level == 0 and token.map is not None:
            title = " ".join(tokens[index + 1].content.split())
            headings.append((token.map[0], int(token.tag[1:]), title))
    if not headings:
        return [Section(0, len(text), ())]
    line_starts = [0, *(match.end() for match in _LINE_END.finditer(text))]
    sections = [Section(0, line_starts[headings[0][0]], ())]
    path: list[tuple[int, str]] = []
    for number, (line, level, title) in enumerate(headings):
        while path and path[-1][0] >= level:
            path.pop()
        if title:  # an empty heading ends its parents' sections but adds no name to the path
            path.append((level, title))
        end = line_starts[headings[number + 1][0]] if number + 1 < len(headings) else len(text)
        sections.append(Section(line_starts[line], end, tuple(name for _, name in path)))
    return sections


def markdown_chunks(measure: TextMeasure, size: int, overlap: int) -> list[ChunkSpan]:
    """One chunk per section, or the recursive chunks of a section too large for one chunk (see
    :func:`~faro_workloads.core.chunking.size_bounds.fits`)."""
    text = measure.text
    chunks: list[ChunkSpan] = []
    for section in markdown_sections(text):
        span = strip_span(text, section.start, section.end)
        if span is None:
            continue
        metadata: dict[str, object] = {"strategy": "markdown", "headings": list(section.headings)}
        if section.headings:
            metadata["section"] = section.headings[-1]
        if fits(measure, *span, size):
            chunks.append(ChunkSpan(text[span[0] : span[1]], span[0], span[1], metadata))
        else:
            chunks.extend(spans_to_chunks(measure, span[0], span[1], size, overlap, metadata))
    return chunks
