"""Why an uploaded document cannot be indexed: each message is one line for the person who sent it."""

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
