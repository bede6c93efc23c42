"""A document version's chunks: its spans embedded (with the context each carries, see
:mod:`~faro_workloads.core.chunking.context`) and made into :class:`Chunk` objects with their metadata —
what the ingest path and the backfill of an index generation both store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from faro_workloads.core.chunking.context import CONTEXT_KEY, chunk_contexts, embedded_text
from faro_workloads.core.documents import Chunk, ChunkSpan
from faro_workloads.core.embedding import Embedder


def build_chunks(
    doc_id: str,
    digest: str,
    metadata: dict[str, Any],
    spans: Sequence[ChunkSpan],
    vectors: Sequence[np.ndarray],
    model: str,
    contexts: Sequence[str] | None = None,
) -> list[Chunk]:
    """The chunks of one document version: span ``seq`` with its vector, document metadata over the span's,
    and the context it was embedded with (``contexts``, see :mod:`~faro_workloads.core.chunking.context`)."""
    contexts = contexts if contexts is not None else [""] * len(spans)
    return [
        Chunk(
            doc_id=doc_id,
            seq=seq,
            text=span.text,
            start=span.start,
            end=span.end,
            metadata=_chunk_metadata(span.metadata, metadata, context),
            content_hash=digest,
            model=model,
            embedding=vector,
        )
        for seq, (span, vector, context) in enumerate(zip(spans, vectors, contexts, strict=True))
    ]


def _chunk_metadata(span: dict[str, Any], document: dict[str, Any], context: str) -> dict[str, Any]:
    merged = {**span, **document}
    merged.pop(CONTEXT_KEY, None)  # a reused span's or the document's: only this embedding's counts
    if context:
        merged[CONTEXT_KEY] = context
    return merged


def embed_spans(
    embedder: Embedder, spans: Sequence[ChunkSpan], metadata: dict[str, Any], with_context: bool
) -> tuple[np.ndarray, list[str]]:
    """The vectors of one document's spans, and the context each was embedded with."""
    contexts = chunk_contexts(spans, metadata, with_context)
    vectors = embedder.embed([embedded_text(c, span.text) for c, span in zip(contexts, spans, strict=True)])
    return vectors, contexts
