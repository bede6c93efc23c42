"""Reading documents' states for the documents API: the evidence of each store gathered in one round per
page, then :func:`~faro_workloads.core.document_state.resolve_state`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from faro_workloads.core.document_state import (
    Acknowledgement,
    DocumentState,
    DocumentStatus,
    IndexedDocument,
    resolve_state,
)
from faro_workloads.core.documents import DocumentRecord
from faro_workloads.core.stores.ports import DocumentEvidence

Acknowledgements = Callable[[str], Acknowledgement | None]
"""What the documents API acknowledged last for a document id (in a cluster, from S3)."""


class DocumentStatuses:
    """States of documents from PostgreSQL's evidence (``evidence``; None when this process has no
    PostgreSQL, and then every acknowledged document reads ``accepted``) and, in a cluster, what was
    acknowledged (``acknowledged``)."""

    def __init__(
        self, evidence: DocumentEvidence | None, acknowledged: Acknowledgements | None = None
    ) -> None:
        self._evidence = evidence
        self._acknowledged = acknowledged

    def status(self, doc_id: str) -> DocumentStatus | None:
        """``doc_id``'s state; None when no store has heard of it."""
        acknowledged = self._acknowledged(doc_id) if self._acknowledged is not None else None
        indexed, marks = self._evidence.document_evidence([doc_id]) if self._evidence else ({}, {})
        return resolve_state(doc_id, acknowledged, indexed.get(doc_id), marks.get(doc_id))

    def listed(self, records: Sequence[DocumentRecord], acknowledged: bool) -> list[DocumentStatus]:
        """The states of a page of listed documents (``acknowledged``: the records are the acknowledged
        versions, else PostgreSQL's own)."""
        ids = [record.doc_id for record in records]
        indexed, marks = self._evidence.document_evidence(ids) if self._evidence and ids else ({}, {})
        statuses = []
        for record in records:
            found = indexed.get(record.doc_id)
            if acknowledged:
                status = resolve_state(
                    record.doc_id, Acknowledgement(record.updated_at, record), found, marks.get(record.doc_id)
                )
            else:
                status = resolve_state(record.doc_id, None, found or IndexedDocument(record, False), None)
            statuses.append(status or DocumentStatus(record.doc_id, DocumentState.ACCEPTED, record))
        return statuses
