"""Contextual chunks: what the model embeds for a chunk carries where the chunk sits in its document.

A chunk cut from the middle of a long page rarely names what it is about ("Use this option to ..."); the
page's title and the headings above the chunk do. With ``context: title-headings`` (the default) every
strategy labels its chunks with their heading path (``metadata["headings"]``, from the Markdown heading
lines of the canonical text: HTML extraction writes its ``<h1>``-``<h6>`` that way), and the model embeds

    git-add(1) Manual Page > OPTIONS

    -p, --patch  Interactively choose hunks of patch between the index and the work tree ...

instead of the bare text. The title is the document's ``title`` metadata (HTML uploads get their
``<title>`` there unless they name one), else nothing; a heading equal to the title is not repeated. The
stored and returned text is the chunk's own; the context is kept beside it, as the chunk's
``embedded_context`` metadata.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any

from faro_workloads.core.chunking.markdown import markdown_sections
from faro_workloads.core.documents import CONTEXT_KEY, ChunkSpan, embedded_text

__all__ = ["CONTEXT_KEY", "chunk_contexts", "embedded_text", "label_headings"]

SEPARATOR = " > "
MAX_CONTEXT_CHARS = 300
"""A context longer than this is cut: it must not crowd the chunk out of the model's input window."""


def label_headings(text: str, spans: Sequence[ChunkSpan]) -> None:
    """Set each span's ``headings`` metadata to the heading path at its start (``[]`` above the first
    heading), unless a strategy set it already (``markdown`` does)."""
    if all("headings" in span.metadata for span in spans):
        return
    sections = markdown_sections(text)
    starts = [section.start for section in sections]
    for span in spans:
        if "headings" not in span.metadata:
            section = sections[bisect.bisect_right(starts, span.start) - 1]
            span.metadata["headings"] = list(section.headings)


def document_title(metadata: Mapping[str, Any]) -> str:
    """The document's title from its metadata (``title``, a string), else ""."""
    title = metadata.get("title")
    return " ".join(title.split()) if isinstance(title, str) else ""


def chunk_context(title: str, headings: Sequence[str]) -> str:
    """``title > heading > heading`` (a heading equal to the title left out), at most
    :data:`MAX_CONTEXT_CHARS` characters; "" when there is neither."""
    parts = [title] if title else []
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
        headings = span.metadata.get("headings")
        contexts.append(chunk_context(title, headings if isinstance(headings, list) else []))
    return contexts
