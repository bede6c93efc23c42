"""Dual write through the outbox: commit to PostgreSQL, then try to sync Qdrant right away.

Postgres commits first (chunks, document row and outbox rows in one transaction). The writer then drains the
outbox rows of *its own* points; when Qdrant fails, the failure is logged and counted but not raised, and the
rows stay in the outbox for :meth:`OutboxDrainer.run` (or a later drain) to apply.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from faro_workloads.core.documents import Chunk, DocumentRecord, SourceText
from faro_workloads.core.outbox import OutboxDrainer
from faro_workloads.core.stores.ports import DocumentWriter, PointSink

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one dual write did.

    ``chunks_written``: chunks committed to Postgres (0 for a delete). ``point_ids``: the points queued in the
    outbox (written, stale and deleted ones). ``qdrant_synced``: whether Qdrant already reflects the change;
    when False, ``qdrant_error`` says why and the outbox still holds the work.
    """

    doc_id: str
    chunks_written: int
    point_ids: list[uuid.UUID] = field(default_factory=list)
    qdrant_synced: bool = True
    qdrant_error: str | None = None


class DualWriter:
    """Writes documents to PostgreSQL (source of truth) and, through the outbox, to Qdrant."""

    def __init__(self, pg: DocumentWriter, qdrant: PointSink, drainer: OutboxDrainer) -> None:
        self._pg = pg
        self._qdrant = qdrant
        self._drainer = drainer

    def write_document(self, record: DocumentRecord, chunks: list[Chunk]) -> WriteResult:
        """Replace a document in Postgres (raises on failure), then sync its points to Qdrant (no raise)."""
        return self.write_documents([(record, chunks)])[0]

    def write_documents(
        self,
        documents: Sequence[tuple[DocumentRecord, list[Chunk]]],
        texts: Mapping[str, SourceText] | None = None,
        deletions_seen: Mapping[str, datetime | None] | None = None,
    ) -> list[WriteResult]:
        """Replace several documents in one Postgres transaction (keeping their extracted ``texts``, by
        doc_id), then sync all their points to Qdrant in one drain (full Qdrant batches instead of one small
        upsert per document). One result per document. ``deletions_seen``: the documents' deletions known
        when their versions were read; one deleted since raises :class:`Superseded`, nothing written."""
        return self.sync_documents(documents, self.commit_documents(documents, texts, deletions_seen))

    def commit_documents(
        self,
        documents: Sequence[tuple[DocumentRecord, list[Chunk]]],
        texts: Mapping[str, SourceText] | None = None,
        deletions_seen: Mapping[str, datetime | None] | None = None,
    ) -> dict[str, list[uuid.UUID]]:
        """The Postgres half of :meth:`write_documents`: one transaction (raises on failure). Returns the
        point ids each document queued in the outbox, for :meth:`sync_documents`."""
        return self._pg.write_documents(documents, texts, deletions_seen)

    def sync_documents(
        self,
        documents: Sequence[tuple[DocumentRecord, list[Chunk]]],
        queued: dict[str, list[uuid.UUID]],
    ) -> list[WriteResult]:
        """The Qdrant half of :meth:`write_documents`: drain the outbox rows ``commit_documents`` queued
        (never raises: on failure they stay in the outbox). One result per document."""
        synced = self._sync(
            ", ".join(queued),
            sum(len(chunks) for _, chunks in documents),
            [p for ps in queued.values() for p in ps],
        )
        return [
            replace(synced, doc_id=record.doc_id, chunks_written=len(chunks), point_ids=queued[record.doc_id])
            for record, chunks in documents
        ]

    def delete_document(
        self, doc_id: str, held_tenant: str | None = None, acknowledged: bool = False
    ) -> WriteResult | None:
        """Delete a document from Postgres, then from Qdrant; None when Postgres does not know it (or, with
        ``held_tenant``, it is another tenant's). ``acknowledged``: answered elsewhere, noted even then."""
        point_ids = self._pg.delete_document(doc_id, held_tenant, acknowledged)
        if point_ids is None:
            return None
        return self._sync(doc_id, 0, point_ids)

    def _sync(self, doc_id: str, chunks_written: int, point_ids: list[uuid.UUID]) -> WriteResult:
        if not point_ids:
            return WriteResult(doc_id, chunks_written, point_ids)
        try:
            self._drainer.drain(point_ids=point_ids)
        except Exception as exc:  # Postgres has the change and the outbox keeps the Qdrant work
            log.warning(
                "document %s committed to postgres; qdrant sync deferred to the outbox: %s", doc_id, exc
            )
            return WriteResult(doc_id, chunks_written, point_ids, qdrant_synced=False, qdrant_error=str(exc))
        return WriteResult(doc_id, chunks_written, point_ids)
