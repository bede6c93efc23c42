"""Chunk objects: how the chunking service hands a chunked document to the embedding engine through S3.

Key layout (one object per document, so replays overwrite instead of piling up)::

    {prefix}/{pipeline}/documents/{b64url(doc_id)}.json    the chunks of the current version
    {prefix}/{pipeline}/tombstones/{b64url(doc_id)}.json   the document was deleted

Document ids are base64url-encoded into one key segment: whatever a caller sends (slashes, dots, '..'),
the key cannot leave its pipeline's folder, and decoding a key gives back the exact id.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from faro_workloads.contract.index_profile import ChunkingIdentity
from faro_workloads.core.documents import (
    ChunkSpan,
    InvalidDocumentId,
    SourceText,
    content_hash,
    validate_doc_id,
)
from faro_workloads.errors import InputError

CHUNK_OBJECT_VERSION = 2
"""Written now: version 1 plus ``chunking`` (how the chunks were cut) and ``text`` and ``format`` (the
document's extracted text, which the embedder keeps for re-chunking). Version 1 objects are still read."""
READABLE_VERSIONS = (1, 2)
ObjectKind = Literal["document", "tombstone"]


class MalformedChunkObject(InputError):
    """An object or key that is not a chunk object of this pipeline."""


def encode_doc_id(doc_id: str) -> str:
    return base64.urlsafe_b64encode(doc_id.encode("utf-8")).decode("ascii").rstrip("=")


def decode_doc_id(segment: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        return validate_doc_id(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, InvalidDocumentId, ValueError) as exc:
        raise MalformedChunkObject(f"key segment {segment!r} is not an encoded document id") from exc


@dataclass(frozen=True, slots=True)
class ChunkObjectLayout:
    """Where one pipeline's chunk objects and tombstones live in the bucket."""

    prefix: str
    pipeline: str

    @property
    def pipeline_prefix(self) -> str:
        """Every key of the pipeline starts with this (the bucket notification's filter)."""
        return f"{self.prefix}/{self.pipeline}/"

    @property
    def documents_prefix(self) -> str:
        return f"{self.prefix}/{self.pipeline}/documents/"

    @property
    def tombstones_prefix(self) -> str:
        return f"{self.prefix}/{self.pipeline}/tombstones/"

    def document_key(self, doc_id: str) -> str:
        return f"{self.documents_prefix}{encode_doc_id(validate_doc_id(doc_id))}.json"

    def tombstone_key(self, doc_id: str) -> str:
        return f"{self.tombstones_prefix}{encode_doc_id(validate_doc_id(doc_id))}.json"

    def parse_key(self, key: str) -> tuple[ObjectKind, str]:
        """(kind, doc_id) of a key of this pipeline; MalformedChunkObject for any other key."""
        for kind, folder in (("document", self.documents_prefix), ("tombstone", self.tombstones_prefix)):
            if key.startswith(folder):
                name = key[len(folder) :]
                if "/" in name or not name.endswith(".json"):
                    break
                return kind, decode_doc_id(name.removesuffix(".json"))  # type: ignore[return-value]
        raise MalformedChunkObject(f"key {key!r} is not a chunk object of pipeline {self.pipeline!r}")


@dataclass(frozen=True, slots=True)
class ChunkObject:
    """A chunked document version, as the chunker writes it and the embedder reads it."""

    pipeline: str
    doc_id: str
    content_hash: str
    source: str
    metadata: dict[str, Any]
    chunks: list[ChunkSpan]
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    chunking: ChunkingIdentity | None = None
    """How the chunking service cut the chunks (None in version 1 objects)."""
    text: SourceText | None = None
    """The extracted text the chunks were cut from (None in version 1 objects)."""
    etag: str = ""
    """The stored object's S3 ETag, when it was read from S3 (not part of the object's content)."""

    def to_json_bytes(self) -> bytes:
        body = {
            "version": CHUNK_OBJECT_VERSION,
            "pipeline": self.pipeline,
            "doc_id": self.doc_id,
            "content_hash": self.content_hash,
            "source": self.source,
            "metadata": self.metadata,
            "created_at": self.created_at.isoformat(),
            "chunks": [
                {"text": c.text, "start": c.start, "end": c.end, "metadata": c.metadata} for c in self.chunks
            ],
        }
        if self.chunking is not None:
            body["chunking"] = self.chunking.model_dump(mode="json")
        if self.text is not None:
            body["text"], body["format"] = self.text.text, self.text.fmt
        return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json_bytes(cls, data: bytes) -> ChunkObject:
        try:
            body = json.loads(data)
            if body.get("version") not in READABLE_VERSIONS:
                raise MalformedChunkObject(f"unsupported chunk object version {body.get('version')!r}")
            chunks = [
                ChunkSpan(
                    text=str(c["text"]),
                    start=int(c["start"]),
                    end=int(c["end"]),
                    metadata=dict(c["metadata"]),
                )
                for c in body["chunks"]
            ]
            digest = str(body["content_hash"])
            text = None
            if "text" in body:
                text = SourceText(str(body["text"]), str(body["format"]), digest)
                if content_hash(text.text) != digest:
                    raise MalformedChunkObject(f"the text of the chunk object is not the content {digest!r}")
            return cls(
                pipeline=str(body["pipeline"]),
                doc_id=validate_doc_id(str(body["doc_id"])),
                content_hash=digest,
                source=str(body["source"]),
                metadata=dict(body["metadata"]),
                chunks=chunks,
                created_at=datetime.fromisoformat(body["created_at"]),
                chunking=ChunkingIdentity.model_validate(body["chunking"]) if "chunking" in body else None,
                text=text,
            )
        except MalformedChunkObject:
            raise
        except (
            ValueError,
            KeyError,
            TypeError,
            AttributeError,
            InvalidDocumentId,
        ) as exc:  # ValidationError too
            raise MalformedChunkObject(f"not a valid chunk object: {exc}") from exc
