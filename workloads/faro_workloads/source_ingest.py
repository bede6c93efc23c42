"""The embedding engine's side of a bucket source: an S3 event for a key of the source prefix is a raw
document to ingest (ObjectCreated) or to delete from every store (ObjectRemoved).

Created: the object is read (bounded by ``ingest.max_body_bytes``, with its user metadata and tags as the
document's metadata), its text extracted in the extraction pool (the documents API's bounds and deadline),
then chunked, embedded and stored as an upload is, with the object's ETag (what the full sync compares).
A document that cannot be indexed (too big, binary, too complex) raises an input error: the worker retries
it, dead-letters it and marks it failed with the reason. Removed: the document is deleted, unless the key
exists again (uploaded after the removal: the newer version wins). After each write, the key is looked at
again and its current state applied, so replicas racing on one document end on what S3 holds last.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal, Protocol

from faro_workloads.chunk_events import settle
from faro_workloads.core.ingest import IncomingDocument, IngestResult
from faro_workloads.core.source_documents import SourceLayout
from faro_workloads.core.stores.s3_sources import S3SourceDocuments, SourceObject
from faro_workloads.core.text_extraction import ExtractedDocument, SourceFormat, detect_format
from faro_workloads.s3_events import S3ObjectEvent

log = logging.getLogger(__name__)

Extract = Callable[[bytes, SourceFormat], ExtractedDocument]
"""The canonical text (and title) of a document's bytes in a format (bounded:
:meth:`ExtractionPool.extract_blocking`)."""


class DocumentIngest(Protocol):
    def ingest(self, document: IncomingDocument) -> IngestResult: ...

    def delete(self, doc_id: str) -> bool: ...


class SourceIngest:
    """Applies a bucket source's events to the stores."""

    def __init__(self, objects: S3SourceDocuments, ingest: DocumentIngest, extract: Extract) -> None:
        self._objects = objects
        self._ingest = ingest
        self._extract = extract

    @property
    def layout(self) -> SourceLayout:
        return self._objects.layout

    def owns(self, event: S3ObjectEvent) -> bool:
        """Whether ``event`` is about a key of the source's prefix (a document, or a file it leaves out)."""
        return event.bucket == self.layout.bucket and event.key.startswith(self.layout.key_prefix)

    def doc_id(self, event: S3ObjectEvent) -> str | None:
        """The document ``event`` is about, when it is one of this source's (raises InvalidDocumentId for a
        key of the source that no id can be made of)."""
        return self.layout.doc_id(event.key) if self.owns(event) else None

    def handle(self, event: S3ObjectEvent, doc_id: str) -> Literal["processed", "skipped"]:
        if event.created:
            return self._ingest_object(event.key, doc_id)
        if not event.event_name.startswith("ObjectRemoved:"):
            return "skipped"
        if self._objects.exists(event.key):
            return "skipped"  # put back after the removal: its created event wins
        deleted = self._ingest.delete(doc_id)
        log.info("source %s removed: %s", event.key, "deleted" if deleted else "not stored")
        self._settle(event.key, doc_id, stored_etag=None)
        return "processed" if deleted else "skipped"

    def _ingest_object(self, key: str, doc_id: str) -> Literal["processed", "skipped"]:
        found = self._objects.read(key)
        if found is None:
            return "skipped"  # removed since (its removed event follows) or replaced (its created event)
        if not self._store(found, doc_id):
            return "skipped"  # the stores held this version: whoever wrote it checked after
        self._settle(key, doc_id, stored_etag=found.etag)
        return "processed"

    def _settle(self, key: str, doc_id: str, stored_etag: str | None) -> None:
        """After a write (``stored_etag``: the version written, None for a delete), apply S3's current state
        again until it is the one written: another replica may have stored a newer version, or deleted the
        document, meanwhile (as for chunk objects, :func:`faro_workloads.chunk_events.settle`)."""

        def apply_current(current: str | None) -> str | None:
            found = None if current is None else self._objects.read(key)
            if found is None:
                self._ingest.delete(doc_id)
                return None
            self._store(found, doc_id)
            return found.etag

        settle(
            stored_etag, lambda: self._objects.etag(key), apply_current, f"s3://{self.layout.bucket}/{key}"
        )

    def _store(self, found: SourceObject, doc_id: str) -> bool:
        """Extract and store ``found`` as ``doc_id``; False when the stores held it already."""
        key = found.key
        fmt = detect_format(key, found.content_type)
        extracted = self._extract(found.data, fmt)
        result = self._ingest.ingest(
            IncomingDocument(
                doc_id=doc_id,
                text=extracted.text,
                source=self.layout.source(key),
                fmt=fmt,
                metadata=extracted.metadata_with_title(dict(found.metadata)),
                source_etag=found.etag,
            )
        )
        return result.status != "unchanged"
