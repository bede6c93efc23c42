"""What one S3 event of a pipeline's chunk objects does to the stores, with any number of replicas racing.

An event only says "this key changed": the handler reads the key's *current* state in S3 (the chunk object
the chunking service acknowledged last, or its tombstone) and makes the stores hold it. Two replicas (or two
threads of one) handling events of the same document can still interleave so that the older version commits
last: replica A reads version 1, the chunking service writes version 2, replica B reads and commits version
2, then A commits version 1. So after every write, the handler looks at S3 again and, when the object is no
longer the one it stored (another version, or deleted), applies the current state again, until what it
committed is what S3 holds. The last writer of a document always makes that check after its commit, so the
stores end on the version S3 holds last; writes of one document are serialised by PostgreSQL (the document's
lock), so the rounds converge. Before writing, once the chunks are embedded (the long part), the handler also
asks S3 whether its version is still the current one, and applies S3's state instead when it is not: a
version deleted or replaced while it was embedded is never written (it was searchable, for seconds with a
long document, until the check after the write undid it). A delete that lands after that check and is
applied (its tombstone's event, on another replica) before the write commits is seen by the write's own
transaction, which then writes nothing: once a delete is applied, no version read before it comes back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal

from faro_workloads.core.chunk_objects import ChunkObject
from faro_workloads.core.document_errors import Superseded
from faro_workloads.core.ingest import IngestService
from faro_workloads.core.metrics import DOCUMENTS_REAPPLIED
from faro_workloads.core.stores.ports import ChunkObjectReader
from faro_workloads.errors import DependencyUnavailable, InputError
from faro_workloads.s3_events import S3ObjectEvent

log = logging.getLogger(__name__)

Outcome = Literal["processed", "skipped"]
NOTHING_WRITTEN = ""
"""What :func:`settle` is told was written when nothing was (no object version has an empty ETag)."""
MAX_ROUNDS = 5
"""Writes of one document per event before the handler gives the message back for a later retry (the
document keeps changing under it)."""


class PoisonMessage(InputError):
    """A message that will not succeed by being retried as it is (an event for another bucket, a chunk
    object that is gone or names another document)."""


class DocumentKeepsChanging(DependencyUnavailable):
    """A document changed in S3 after each of ``MAX_ROUNDS`` writes: the message is retried later."""


class ChunkEvents:
    """Applies S3 events of ``store``'s chunk objects and tombstones through ``ingest``."""

    def __init__(self, store: ChunkObjectReader, ingest: IngestService) -> None:
        self._store = store
        self._ingest = ingest

    def handle(self, event: S3ObjectEvent) -> Outcome:
        if not event.created:
            return "skipped"
        if event.bucket != self._store.bucket:
            raise PoisonMessage(
                f"event for bucket {event.bucket!r}; this pipeline reads {self._store.bucket!r}"
            )
        layout = self._store.layout
        kind, doc_id = layout.parse_key(event.key)
        if kind == "tombstone":
            if self._store.exists(layout.document_key(doc_id)):
                return "skipped"  # uploaded again after the delete: the newer version wins
            self._ingest.delete(doc_id, acknowledged=True)
            return self._settle(doc_id, stored_etag=None)
        chunk_object = self._store.read(event.key)
        if chunk_object is None:
            if self._store.exists(layout.tombstone_key(doc_id)):
                return "skipped"  # deleted after this upload
            raise PoisonMessage(f"chunk object {event.key} does not exist")
        if chunk_object.doc_id != doc_id:
            raise PoisonMessage(f"chunk object {event.key} names document {chunk_object.doc_id!r}")
        try:
            if not self._store_object(chunk_object):
                return "skipped"  # the stores hold this version already: whoever wrote it checks after
        except Superseded:  # replaced or deleted while it was embedded: not written, S3's state applied
            return self._settle(doc_id, stored_etag=NOTHING_WRITTEN)
        return self._settle(doc_id, stored_etag=chunk_object.etag)

    def _store_object(self, chunk_object: ChunkObject) -> bool:
        """Write ``chunk_object``'s document; False when the stores held it already. Raises
        :class:`Superseded` when S3 holds another version (or none) once it is embedded."""
        key = self._store.layout.document_key(chunk_object.doc_id)
        result = self._ingest.ingest_chunks(
            chunk_object.doc_id,
            chunk_object.content_hash,
            chunk_object.source,
            chunk_object.metadata,
            chunk_object.chunks,
            chunk_object.chunking,
            chunk_object.text,
            chunk_object.etag,
            still_current=lambda: self._store.etag(key) == chunk_object.etag,
        )
        return result.status != "unchanged"

    def _settle(self, doc_id: str, stored_etag: str | None) -> Outcome:
        """After a write (``stored_etag``: the object version written, None for a delete), apply S3's current
        state again until it is the one written."""
        key = self._store.layout.document_key(doc_id)
        settle(
            stored_etag,
            lambda: self._store.etag(key),
            lambda current: self._apply_current(doc_id, current),
            doc_id,
        )
        return "processed"

    def _apply_current(self, doc_id: str, current: str | None) -> str | None:
        """Make the stores hold what S3 holds for ``doc_id`` now (its object has ETag ``current``, or none);
        the ETag of what they hold then."""
        layout = self._store.layout
        if current is None:
            if self._store.exists(layout.tombstone_key(doc_id)):
                self._ingest.delete(doc_id, acknowledged=True)
            return None  # without a tombstone: a delete between its two steps, its tombstone's event follows
        chunk_object = self._store.read(layout.document_key(doc_id))
        if chunk_object is None:
            return current  # deleted again meanwhile: looked at once more
        try:
            self._store_object(chunk_object)
        except Superseded:
            return NOTHING_WRITTEN  # changed again while it was embedded: looked at once more
        return chunk_object.etag


def settle(
    stored: str | None,
    current_etag: Callable[[], str | None],
    apply_current: Callable[[str | None], str | None],
    what: str,
) -> None:
    """After a write of version ``stored`` (an ETag; None for a delete), until S3's ``current_etag()`` is the
    version stored: ``apply_current(current)`` makes the stores hold S3's current state and returns its ETag.
    Raises :class:`DocumentKeepsChanging` after ``MAX_ROUNDS`` rounds."""
    for _ in range(MAX_ROUNDS):
        current = current_etag()
        if current == stored:
            return
        DOCUMENTS_REAPPLIED.inc()
        log.info("embedder: %s changed in S3 while it was stored; applying its current state", what)
        stored = apply_current(current)
    raise DocumentKeepsChanging(f"{what} changed in S3 after each of {MAX_ROUNDS} writes")
