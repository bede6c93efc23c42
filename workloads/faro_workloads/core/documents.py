"""The data model shared by every store and service: documents, chunks and their identities.

A chunk's point id is a deterministic UUID of its document id and sequence number, so replaying the same
document is always an idempotent upsert, in Postgres and in Qdrant alike.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import numpy as np

from faro_workloads.errors import InputError

# Fixed namespace for chunk point ids (uuid5). Never change it: every stored id derives from it.
CHUNK_ID_NAMESPACE = uuid.UUID("5b0f3a4e-7c1d-4e2a-9f43-0fa20d0c6a11")

# Document ids travel in URLs, S3 keys and SQL: a conservative alphabet, no empty or parent segments.
DOC_ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._~@+=:,-]*(/[A-Za-z0-9_][A-Za-z0-9._~@+=:,-]*)*$"
DOC_ID_MAX_LENGTH = 256
_DOC_ID_RE = re.compile(DOC_ID_PATTERN)


class InvalidDocumentId(InputError):
    """A caller-given document id that Faro cannot store safely."""


def validate_doc_id(doc_id: str) -> str:
    """Return ``doc_id`` unchanged if it is safe to use as a key everywhere, else raise."""
    if not doc_id or len(doc_id) > DOC_ID_MAX_LENGTH:
        raise InvalidDocumentId(f"document id must be 1 to {DOC_ID_MAX_LENGTH} characters")
    if not _DOC_ID_RE.match(doc_id) or any(part in (".", "..") for part in doc_id.split("/")):
        raise InvalidDocumentId(
            f"document id {doc_id!r} may only hold letters, digits and ._~@+=:,- in /-separated "
            "segments, with no empty, '.' or '..' segment"
        )
    return doc_id


def doc_id_from_path(relative_path: str) -> str:
    """Derive a document id from a file's path relative to an ingested folder (or its file name)."""
    cleaned = re.sub(r"[^A-Za-z0-9._~@+=:,/-]+", "-", relative_path.replace("\\", "/")).strip("/")
    parts = [p.lstrip(".-") or "_" for p in cleaned.split("/") if p not in ("", ".", "..")]
    return validate_doc_id("/".join(parts)[:DOC_ID_MAX_LENGTH].rstrip("/"))


def normalise_text(text: str) -> str:
    """The canonical form that is hashed, chunked and stored: no BOM, LF line ends."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def content_hash(normalised_text: str) -> str:
    """sha256 hex digest of a document's normalised text."""
    return hashlib.sha256(normalised_text.encode("utf-8")).hexdigest()


def metadata_digest(metadata: dict[str, Any]) -> str:
    """sha256 hex digest of a document's metadata as canonical JSON (keys sorted): equal for equal dicts."""
    encoded = json.dumps(metadata, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("ascii")).hexdigest()


@lru_cache(maxsize=65_536)
def chunk_point_id(doc_id: str, seq: int) -> uuid.UUID:
    """The deterministic point id of chunk ``seq`` of document ``doc_id`` (remembered: a write asks for each
    chunk's id several times, and a SHA-1 each time showed in the profiles)."""
    return uuid.uuid5(CHUNK_ID_NAMESPACE, f"{doc_id}\x1f{seq}")


@dataclass(frozen=True, slots=True)
class ChunkSpan:
    """A piece of a document's normalised text: ``text == source[start:end]``."""

    text: str
    start: int
    end: int
    metadata: dict[str, Any] = field(default_factory=dict)


CONTEXT_KEY = "embedded_context"
"""The chunk metadata key holding the context its vector was embedded with (absent: none; see
:mod:`faro_workloads.core.chunking.context`). Hits show it."""


def embedded_text(context: str, text: str) -> str:
    """What the model embeds for a chunk: its context, a blank line and its text; the bare text without
    context. The embedding cache keys this string (PostgreSQL's prune rebuilds it the same way from a
    chunk's :data:`CONTEXT_KEY` metadata)."""
    return f"{context}\n\n{text}" if context else text


@dataclass(slots=True)
class Chunk:
    """A chunk as both stores hold it. ``content_hash`` is the hash of the whole document version."""

    doc_id: str
    seq: int
    text: str
    start: int
    end: int
    metadata: dict[str, Any]
    content_hash: str
    model: str
    embedding: np.ndarray

    @property
    def id(self) -> uuid.UUID:
        return chunk_point_id(self.doc_id, self.seq)

    def payload(self) -> dict[str, Any]:
        """Everything but the vector, as Qdrant stores it."""
        return {
            "doc_id": self.doc_id,
            "seq": self.seq,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "metadata": self.metadata,
            "content_hash": self.content_hash,
            "model": self.model,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any], embedding: np.ndarray) -> Chunk:
        return cls(
            doc_id=payload["doc_id"],
            seq=int(payload["seq"]),
            text=payload["text"],
            start=int(payload["start"]),
            end=int(payload["end"]),
            metadata=dict(payload.get("metadata") or {}),
            content_hash=payload["content_hash"],
            model=payload["model"],
            embedding=embedding,
        )


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    """A document as Postgres records it. ``profile`` is the fingerprint of the index profile its chunks
    were made with (:mod:`faro_workloads.contract.index_profile`; empty for documents stored before
    profiles were recorded)."""

    doc_id: str
    content_hash: str
    source: str
    chunk_count: int
    metadata: dict[str, Any]
    updated_at: datetime
    profile: str = ""
    source_etag: str = ""
    """The S3 ETag of the object the document was read from (its chunk object, or its source file): what the
    census and the bucket sync compare with a listing ("" when it came another way)."""
    held_tenant: str | None = None
    """A condition of the write, not stored: the tenant its uploader is held to. The write may then only
    replace a document of that tenant, decided in the writing transaction (no race between a check and the
    write); None for a record read back, or written by a caller not held to a tenant."""


@dataclass(frozen=True, slots=True)
class SourceText:
    """A document's canonical extracted text (what was hashed and chunked), its source format, and its
    content hash: kept so that the document can be chunked and embedded again without an upload."""

    text: str
    fmt: str
    content_hash: str


@dataclass(frozen=True, slots=True)
class Neighbour:
    """A chunk next to a hit in its document (asked for with the query's ``neighbours``)."""

    seq: int
    text: str


@dataclass(frozen=True, slots=True)
class RankedChunk:
    """A chunk's place in one of a hybrid query's rankings: its id and score, without its text or payload
    (a store sends the candidates of both signals this light; only the chunks fusion keeps are read whole)."""

    id: uuid.UUID
    score: float


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One search result from either store. ``score`` is in the store's own terms for the distance:
    similarity for cosine and dot (higher is closer), distance for euclid (lower is closer)."""

    id: uuid.UUID
    score: float
    doc_id: str
    seq: int
    text: str
    metadata: dict[str, Any]
    model: str = ""
    """The model that embedded the chunk."""
    neighbours: tuple[Neighbour, ...] = ()
    """The chunks around this one in its document, in order, when the query asked for them."""
