"""Where a document stands between its acknowledgement and a search that finds it: one state, worked out
from what each store says about it.

Three witnesses, each read by its adapter and handed here, so the decision is one pure function:

- the **acknowledgement**: what the documents API answered for (in a cluster the chunk object, or the
  tombstone of a delete, in S3; local mode writes PostgreSQL before it answers, so it has none apart);
- the **index**: PostgreSQL's record of the document and whether Qdrant work is still queued for it in the
  live generation's outbox (the transactional outbox makes "no rows queued" mean "Qdrant holds it");
- the **mark**: PostgreSQL's note of a document that failed (dead-lettered, with the reason) or was deleted
  (with whether the deletion of its points from Qdrant is still queued).

====================  ===========================================================================
``accepted``          acknowledged, not yet embedded (queued for the embedding engine)
``embedded``          in PostgreSQL (the pgvector fallback finds it), its Qdrant write still queued
``searchable``        in both stores
``failed``            will not be indexed as it is; ``reason`` says why (e.g. dead-lettered)
``deleting``          the delete was acknowledged, not yet applied (or Qdrant's points not yet deleted)
``deleted``           gone from every store, and applied: no version read before the delete comes back
====================  ===========================================================================

In a cluster a delete is acknowledged in S3 (a tombstone) and applied by the embedding engine, which marks
it in PostgreSQL, even for a document PostgreSQL never held: a version still being embedded when the delete
was answered is refused from then on (:mod:`faro_workloads.chunk_events`). Before that mark the document
reads ``deleting`` although no store holds it yet: that version could still land. A delete acknowledged
longer than :data:`UNMARKED_DELETE_SETTLED` ago reads ``deleted`` without a mark (marks are pruned after
their retention, and any write begun before the delete has long finished).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal

from faro_workloads.core.documents import DocumentRecord


class DocumentState(StrEnum):
    ACCEPTED = "accepted"
    EMBEDDED = "embedded"
    SEARCHABLE = "searchable"
    FAILED = "failed"
    DELETING = "deleting"
    DELETED = "deleted"


UNMARKED_DELETE_SETTLED = timedelta(minutes=2)
"""How long after its acknowledgement a delete with no mark in PostgreSQL reads ``deleted``."""
CLOCK_SKEW = timedelta(seconds=5)
"""How far behind S3's clock PostgreSQL's may be when a mark is compared with a tombstone's time."""

SETTLED = frozenset({DocumentState.SEARCHABLE, DocumentState.FAILED, DocumentState.DELETED})
"""States no more work will move a document out of (until it is uploaded or deleted again)."""

MarkKind = Literal["failed", "deleted"]


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """What the documents API acknowledged last: a version (``record``, from the chunk object's header) or,
    with ``record`` None, a delete, at ``at``."""

    at: datetime
    record: DocumentRecord | None = None

    @property
    def deleted(self) -> bool:
        return self.record is None


@dataclass(frozen=True, slots=True)
class DocumentMark:
    """PostgreSQL's note of a document that failed or was deleted. ``content_hash`` is the version it is
    about ("" when the failure happened before the version could be read)."""

    kind: MarkKind
    content_hash: str
    reason: str
    at: datetime
    pending: bool = False
    """Qdrant work is still queued for the document (a delete: its points are not yet gone from Qdrant)."""


@dataclass(frozen=True, slots=True)
class IndexedDocument:
    """PostgreSQL's record of the document; ``pending``: Qdrant work is still queued for it."""

    record: DocumentRecord
    pending: bool


@dataclass(frozen=True, slots=True)
class DocumentStatus:
    """A document's state, with the version it is about (``record``: the acknowledged one, else the
    indexed one; None for a document known only by its mark) and the version queries find now
    (``indexed_hash``; during a replace the previous one)."""

    doc_id: str
    state: DocumentState
    record: DocumentRecord | None
    indexed_hash: str | None = None
    reason: str | None = None
    at: datetime | None = None
    """When the state was reached, as far as the stores tell (the record's update, the mark's time)."""


def resolve_state(
    doc_id: str,
    acknowledged: Acknowledgement | None,
    indexed: IndexedDocument | None,
    mark: DocumentMark | None,
    now: datetime | None = None,
) -> DocumentStatus | None:
    """The document's state from what each store holds (None: no store has heard of it), at ``now``
    (default: the current time)."""
    indexed_hash = indexed.record.content_hash if indexed is not None else None
    if acknowledged is not None and acknowledged.deleted:
        if indexed is not None:
            return DocumentStatus(
                doc_id, DocumentState.DELETING, indexed.record, indexed_hash, at=acknowledged.at
            )
        if mark is not None and mark.kind == "deleted" and mark.at >= acknowledged.at - CLOCK_SKEW:
            return _deleted(doc_id, mark)
        if mark is None and (now or datetime.now(UTC)) - acknowledged.at >= UNMARKED_DELETE_SETTLED:
            return DocumentStatus(doc_id, DocumentState.DELETED, None, at=acknowledged.at)
        return DocumentStatus(doc_id, DocumentState.DELETING, None, at=acknowledged.at)
    if acknowledged is not None:
        version = acknowledged.record
        assert version is not None
        if indexed is not None and indexed_hash == version.content_hash:
            return _indexed(doc_id, indexed)
        if mark is not None and mark.kind == "failed" and _about(mark, version.content_hash, acknowledged.at):
            return DocumentStatus(
                doc_id, DocumentState.FAILED, version, indexed_hash, reason=mark.reason, at=mark.at
            )
        return DocumentStatus(doc_id, DocumentState.ACCEPTED, version, indexed_hash, at=acknowledged.at)
    if indexed is not None:
        return _indexed(doc_id, indexed)
    if mark is None:
        return None
    if mark.kind == "deleted":
        return _deleted(doc_id, mark)
    return DocumentStatus(doc_id, DocumentState.FAILED, None, None, reason=mark.reason, at=mark.at)


def _deleted(doc_id: str, mark: DocumentMark) -> DocumentStatus:
    """An applied delete: ``deleted`` once Qdrant's points are gone too, ``deleting`` until then."""
    state = DocumentState.DELETING if mark.pending else DocumentState.DELETED
    return DocumentStatus(doc_id, state, None, at=mark.at)


def _about(mark: DocumentMark, content_hash: str, acknowledged_at: datetime) -> bool:
    """Whether a failure is about the acknowledged version: its hash says so, or (no hash) it came after."""
    return mark.content_hash == content_hash if mark.content_hash else mark.at >= acknowledged_at


def _indexed(doc_id: str, indexed: IndexedDocument) -> DocumentStatus:
    state = DocumentState.EMBEDDED if indexed.pending else DocumentState.SEARCHABLE
    record = indexed.record
    return DocumentStatus(doc_id, state, record, record.content_hash, at=record.updated_at)
