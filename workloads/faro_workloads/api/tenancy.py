"""Tenant isolation on the data APIs: a caller held to a tenant (its API key's ``tenant``, or its service
account's in ``service_accounts.tenants``) sees and writes only that tenant's documents.

A document's tenant is the reserved metadata key :data:`~faro_workloads.contract.access.TENANT_KEY`, stored
with every chunk in both stores (indexed: a partial expression index in PostgreSQL, a tenant keyword index in
Qdrant) and with the chunk object. Held callers:

- **query**: the search filter gets ``tenant`` forced, on whichever store answers (the PostgreSQL fallback
  included); a filter naming another tenant is refused (403).
- **upload**: the document is stamped with the caller's tenant (metadata naming another: 403); a document id
  another tenant (or no tenant) holds is refused (409), never replaced: checked here, and again by the
  store as it writes (the chunking service's conditional write to S3), so two uploads racing for one id
  cannot both pass.
- **read, delete**: a document of another tenant is "not found" (404), as if it did not exist.
- **list**: only the tenant's documents; pages follow the same ``after`` cursor.

Callers not held to a tenant (keys without one, service accounts not listed, an open API) are not filtered,
and may stamp an upload with any tenant themselves (a service ingesting for its tenants).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from fastapi import HTTPException, Request

from faro_workloads.api.auth import IDENTITY_STATE
from faro_workloads.contract.access import TENANT_KEY
from faro_workloads.core.document_errors import DocumentIdTaken
from faro_workloads.core.document_state import DocumentState, DocumentStatus
from faro_workloads.core.documents import validate_doc_id
from faro_workloads.core.ingest import IncomingDocument
from faro_workloads.core.search_filter import SearchFilter

MAX_LIST_SCANS = 20
"""Listing pages a tenant's list request looks through for its documents before it answers with what it
found and a cursor to go on from (a tenant with few documents among many costs bounded work per request)."""


def held_tenant(request: Request) -> str | None:
    """The tenant the request's caller is held to; None when it is not held to one."""
    identity = getattr(request.state, IDENTITY_STATE, None)
    return identity.tenant if identity is not None else None


def tenant_filter(flt: SearchFilter | None, tenant: str | None) -> SearchFilter | None:
    """``flt`` held to ``tenant`` (unchanged for a caller not held to one); 403 for a filter naming another
    tenant."""
    if tenant is None:
        return flt
    if flt is not None and flt.tenant not in (None, tenant):
        raise HTTPException(403, f"this caller is held to tenant {tenant!r}: it cannot search {flt.tenant!r}")
    return (flt or SearchFilter()).model_copy(update={"tenant": tenant})


def owner(status: DocumentStatus) -> str | None:
    """The tenant of a document as its stores tell it (None: no tenant, or only a mark is known of it)."""
    if status.record is None:
        return None
    value = status.record.metadata.get(TENANT_KEY)
    return value if isinstance(value, str) else None


def visible(status: DocumentStatus | None, tenant: str | None) -> DocumentStatus | None:
    """``status`` when a caller held to ``tenant`` may see it; None (not found) otherwise."""
    if status is None or tenant is None:
        return status
    return status if owner(status) == tenant else None


def stamped(metadata: dict, tenant: str | None) -> dict:
    """An upload's metadata with the caller's tenant (unchanged for a caller not held to one); 403 when it
    names another tenant."""
    if tenant is None:
        return metadata
    named = metadata.get(TENANT_KEY)
    if named is not None and named != tenant:
        raise HTTPException(403, f"this caller is held to tenant {tenant!r}: it cannot write for {named!r}")
    return {**metadata, TENANT_KEY: tenant}


def check_writable(current: DocumentStatus | None, doc_id: str, tenant: str | None) -> None:
    """409 when a caller held to ``tenant`` would replace a document it does not hold (another tenant's, or
    one without a tenant); deleted documents are free to take, and so are those being deleted that no store
    holds (a delete acknowledged before any version was stored)."""
    if tenant is None or current is None or current.state is DocumentState.DELETED:
        return
    if current.state is DocumentState.DELETING and current.record is None:
        return
    if owner(current) != tenant:
        raise HTTPException(409, str(DocumentIdTaken(doc_id)))


def held_upload(
    document: IncomingDocument, tenant: str | None, lookup: Callable[[str], DocumentStatus | None]
) -> IncomingDocument:
    """An upload as a caller held to ``tenant`` may make it: stamped with the tenant, and refused when its
    id is held by someone else (``lookup``: the document's current state). Unchanged for others."""
    if tenant is None:
        return document
    held = replace(document, metadata=stamped(document.metadata, tenant), held_tenant=tenant)
    check_writable(lookup(validate_doc_id(document.doc_id)), document.doc_id, tenant)
    return held


def listed_page(
    list_page: Callable[[int, str | None], list[DocumentStatus]],
    tenant: str | None,
    limit: int,
    after: str | None,
) -> tuple[list[DocumentStatus], str | None]:
    """A page of the document list as the caller may see it, and the cursor to go on from (None at the
    end): for a caller held to a tenant, :func:`tenant_page`."""
    if tenant is not None:
        return tenant_page(list_page, tenant, limit, after)
    records = list_page(limit, after)
    return records, records[-1].doc_id if len(records) == limit else None


def tenant_page(
    list_page: Callable[[int, str | None], list[DocumentStatus]],
    tenant: str,
    limit: int,
    after: str | None,
) -> tuple[list[DocumentStatus], str | None]:
    """Up to ``limit`` of ``tenant``'s documents after ``after``, and the cursor to go on from (None at the
    end), looking through at most :data:`MAX_LIST_SCANS` pages of ``list_page(limit, after)``."""
    found: list[DocumentStatus] = []
    cursor = after
    for _ in range(MAX_LIST_SCANS):
        page = list_page(limit, cursor)
        for status in page:
            cursor = status.doc_id
            if owner(status) == tenant:
                found.append(status)
                if len(found) == limit:
                    return found, cursor
        if len(page) < limit:
            return found, None
    return found, cursor
