"""Why an uploaded document cannot be indexed (each message is one line for the person who sent it), or why
a version of it is not written."""

from __future__ import annotations

from faro_workloads.errors import InputError


class UnsupportedDocument(InputError):
    """A document Faro cannot turn into text; the message is one human-readable line."""


class DocumentTooComplex(UnsupportedDocument):
    """A document whose extraction would cost more than the limits allow (nesting, elements, CPU time)."""


class DocumentIdTaken(InputError):
    """A caller held to a tenant tried to write a document id another tenant (or no tenant) holds."""

    def __init__(self, doc_id: str) -> None:
        super().__init__(f"document id {doc_id!r} is taken: choose another id")


class Superseded(Exception):
    """The version being written is no longer the current one: replaced or deleted while it was embedded
    (see :meth:`~faro_workloads.core.ingest.IngestService.ingest_chunks`). Nothing of it was written."""
