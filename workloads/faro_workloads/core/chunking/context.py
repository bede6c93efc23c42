"""Contextual chunks: what the model embeds for a chunk carries where the chunk sits in its document.

A chunk cut from the middle of a long page rarely names what it is about ("Use this option to ..."); the
page's title, its lead paragraph and the headings above the chunk do. With ``context: title-lead-headings``
(the default) every strategy labels its chunks with their heading path (``metadata["headings"]``, from the
Markdown heading lines of the canonical text: HTML extraction writes its ``<h1>``-``<h6>`` that way) and the
document's lead (``metadata["lead"]``: its first paragraph of prose after its first heading, 30 words at
most), and the model embeds

    git-add(1) Manual Page > git-add - Add file contents to the index > OPTIONS

    -p, --patch  Interactively choose hunks of patch between the index and the work tree ...

instead of the bare text (``title-headings`` leaves the lead out). The title is the document's ``title``
metadata (HTML uploads get their ``<title>`` there unless they name one), else nothing; a heading equal to
the title is not repeated. The stored and returned text is the chunk's own; the context is kept beside it,
as the chunk's ``embedded_context`` metadata.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Mapping, Sequence
from typing import Any

from faro_workloads.core.chunking.markdown import Section
from faro_workloads.core.documents import CONTEXT_KEY, ChunkSpan, embedded_text

__all__ = [
    "CONTEXT_KEY",
    "LEAD_KEY",
    "chunk_contexts",
    "document_lead",
    "embedded_text",
    "heading_sections",
    "label_context",
]

LEAD_KEY = "lead"
"""The span (and chunk) metadata key of the document's lead paragraph, with ``title-lead-headings``."""
LEAD_WORDS = 30
LEAD_SEARCH_CHARS = 20_000
SEPARATOR = " > "
MAX_CONTEXT_CHARS = 300
"""A context longer than this is cut: it must not crowd the chunk out of the model's input window."""


def label_context(text: str, spans: Sequence[ChunkSpan], with_lead: bool) -> None:
    """Set each span's ``headings`` metadata to the heading path at its start (``[]`` above the first
    heading), unless a strategy set it already (``markdown`` does); ``with_lead``: its ``lead`` metadata
    to the document's lead paragraph (:func:`document_lead`)."""
    sections = heading_sections(text)
    starts = [section.start for section in sections]
    lead = document_lead(text, sections) if with_lead else ""
    for span in spans:
        if "headings" not in span.metadata:
            section = sections[bisect.bisect_right(starts, span.start) - 1]
            span.metadata["headings"] = list(section.headings)
        if lead:
            span.metadata[LEAD_KEY] = lead


_HEADING_OR_FENCE = re.compile(r"^(?: {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*|(?: {0,3})(```|~~~).*)$", re.MULTILINE)


def heading_sections(text: str) -> list[Section]:
    """The sections under the ATX heading lines (``# ...`` to ``###### ...``) of ``text``, outside fenced
    code: the shape extracted HTML and most Markdown have, found with one regular-expression scan (the
    ``markdown`` strategy's CommonMark parse costs several times more, and every strategy labels its chunks).
    Setext headings and headings inside lists or quotes are not sections here."""
    sections = [Section(0, len(text), ())]
    path: list[tuple[int, str]] = []
    fence = ""
    for match in _HEADING_OR_FENCE.finditer(text):
        marks, title, opener = match.group(1), match.group(2), match.group(3)
        if opener is not None:
            fence = "" if fence == opener else (fence or opener)
            continue
        if fence:
            continue
        level = len(marks)
        while path and path[-1][0] >= level:
            path.pop()
        name = " ".join(title.split())
        if name:
            path.append((level, name))
        previous = sections[-1]
        sections[-1] = Section(previous.start, match.start(), previous.headings)
        sections.append(Section(match.start(), len(text), tuple(n for _, n in path)))
    return sections


def document_lead(text: str, sections: Sequence[Section]) -> str:
    """The document's lead: its first paragraph of prose (at least 3 words; not a heading, list item or
    code fence) after its first heading — or from its start when it has none — cut to
    :data:`LEAD_WORDS` words. Only the first :data:`LEAD_SEARCH_CHARS` characters are looked at."""
    first = next((section for section in sections if section.headings), None)
    start = first.start if first is not None else 0
    blocks = text[start : start + LEAD_SEARCH_CHARS].split("\n\n")
    for block in blocks[1:] if first is not None else blocks:
        words = block.split()
        if len(words) >= 3 and not block.strip().startswith(("#", "```", "- ")):
            return " ".join(words[:LEAD_WORDS])
    return ""


def document_title(metadata: Mapping[str, Any]) -> str:
    """The document's title from its metadata (``title``, a string), else ""."""
    title = metadata.get("title")
    return " ".join(title.split()) if isinstance(title, str) else ""


def chunk_context(title: str, headings: Sequence[str], lead: str = "") -> str:
    """``title > lead > heading > heading`` (a heading equal to the title left out), at most
    :data:`MAX_CONTEXT_CHARS` characters; "" when there is nothing."""
    parts = [title] if title else []
    if lead:
        parts.append(lead)
    parts.extend(heading for heading in headings if heading and heading != title)
    return SEPARATOR.join(parts)[:MAX_CONTEXT_CHARS]


def chunk_contexts(spans: Sequence[ChunkSpan], metadata: Mapping[str, Any], with_context: bool) -> list[str]:
    """The context the model sees with each span of one document ("" for none; all "" ``with_context``
    off)."""
    if not with_context:
        return [""] * len(spans)
    title = document_title(metadata)
    contexts = []
    for span in spans:
        headings, lead = span.metadata.get("headings"), span.metadata.get(LEAD_KEY)
        listed = headings if isinstance(headings, list) else []
        contexts.append(chunk_context(title, listed, lead if isinstance(lead, str) else ""))
    return contexts
