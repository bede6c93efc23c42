"""How a pipeline cuts documents into chunks, as both the RagPipeline spec (``spec.chunking``) and the
services' settings (``FARO_CHUNKING__*``) state it: one set of names, bounds and rules for both."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

ChunkingStrategy = Literal["fixed", "recursive", "markdown", "sentence", "semantic"]
DEFAULT_STRATEGY: ChunkingStrategy = "recursive"

SemanticPercentile = Annotated[int, Field(ge=50, le=99)]
"""The ``semantic`` strategy cuts where the distance between neighbouring sentences' embeddings is above
this percentile of the document's distances (a higher one: fewer, larger chunks)."""
DEFAULT_SEMANTIC_PERCENTILE = 90

ChunkContext = Literal["none", "title-headings", "title-lead-headings"]
"""What the model embeds with each chunk besides its text: nothing; its document's title and the headings
above it (``git-add(1) > OPTIONS``); or those with the document's lead paragraph between them. The returned
text is the chunk's own either way."""
DEFAULT_CONTEXT: ChunkContext = "title-lead-headings"

ChunkSize = Annotated[int, Field(ge=8, le=8192)]
"""Tokens per chunk."""
ChunkOverlap = Annotated[int, Field(ge=0, le=4096)]
"""Tokens shared by neighbouring chunks."""
DEFAULT_SIZE = 250
DEFAULT_OVERLAP = 32


def overlap_problem(size: int, overlap: int) -> str | None:
    """Why ``overlap`` cannot go with ``size`` (it must leave each chunk something new), or None."""
    if overlap >= size:
        return f"chunking overlap ({overlap}) must be smaller than size ({size})"
    return None
