"""Tenant isolation, the decisions: what a caller held to a tenant may search, upload, see and list (the
same on real stores: ``tests/integration/test_tenant_isolation.py``)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from fastapi import HTTPException

from faro_workloads.api.tenancy import (
    MAX_LIST_SCANS,
    check_writable,
    held_upload,
    listed_page,
    stamped,
    tenant_filter,
    visible,
)
from faro_workloads.contract.access import TENANT_KEY
from faro_workloads.contract.settings import CollectionConfig
from faro_workloads.core.document_state import DocumentState, DocumentStatus
from faro_workloads.core.documents import DocumentRecord
from faro_workloads.core.ingest import IncomingDocument
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.postgres.search_statements import FILTER_PARAMS, SearchStatements
from faro_workloads.core.stores.postgres.tables import CollectionTables


def _status(
    doc_id: str, tenant: str | None, state: DocumentState = DocumentState.SEARCHABLE
) -> DocumentStatus:
    metadata = {TENANT_KEY: tenant} if tenant else {}
    record = DocumentRecord(doc_id, "h", "s", 1, metadata, datetime.now(UTC))
    return DocumentStatus(doc_id, state, record)


def test_a_held_search_is_forced_to_its_tenant_and_may_not_name_another() -> None:
    assert tenant_filter(None, None) is None
    assert tenant_filter(None, "a") == SearchFilter(tenant="a")
    narrowed = tenant_filter(SearchFilter(doc_ids=["x"], tenant="a"), "a")
    assert narrowed == SearchFilter(doc_ids=["x"], tenant="a")
    with pytest.raises(HTTPException) as refused:
        tenant_filter(SearchFilter(tenant="b"), "a")
    assert refused.value.status_code == 403
    assert tenant_filter(SearchFilter(tenant="b"), None) == SearchFilter(tenant="b")  # not held: any


def test_uploads_are_stamped_and_may_not_take_an_id_held_by_someone_else() -> None:
    assert stamped({"lang": "en"}, "a") == {"lang": "en", TENANT_KEY: "a"}
    assert stamped({TENANT_KEY: "b"}, None) == {TENANT_KEY: "b"}  # a caller not held may stamp any tenant
    with pytest.raises(HTTPException, match="cannot write for 'b'"):
        stamped({TENANT_KEY: "b"}, "a")
    for holder in ("b", None):
        with pytest.raises(HTTPException) as taken:
            check_writable(_status("x", holder), "x", "a")
        assert taken.value.status_code == 409
    check_writable(_status("x", "a"), "x", "a")
    check_writable(_status("x", "b", DocumentState.DELETED), "x", "a")  # a deleted id is free
    check_writable(DocumentStatus("x", DocumentState.DELETING, None), "x", "a")  # so is one no store holds
    with pytest.raises(HTTPException):  # but not one still held while its delete is applied
        check_writable(_status("x", "b", DocumentState.DELETING), "x", "a")
    check_writable(None, "x", "a")
    document = IncomingDocument("x", "text", "upload")
    held = held_upload(document, "a", lambda doc_id: None)
    assert held.metadata == {TENANT_KEY: "a"} and document.metadata == {}


def test_other_tenants_documents_are_not_found() -> None:
    assert visible(_status("x", "a"), "a") is not None
    assert visible(_status("x", "b"), "a") is None
    assert visible(_status("x", None), "a") is None
    assert visible(DocumentStatus("x", DocumentState.FAILED, None), "a") is None  # only a mark: not yours
    assert visible(_status("x", "b"), None) is not None


def test_a_tenants_list_looks_through_pages_and_keeps_a_cursor() -> None:
    everything = [_status(f"d{i:03d}", "a" if i % 10 == 0 else "b") for i in range(300)]
    asked: list[tuple[int, str | None]] = []

    def page(limit: int, after: str | None) -> list[DocumentStatus]:
        asked.append((limit, after))
        start = 0 if after is None else next(i for i, s in enumerate(everything) if s.doc_id == after) + 1
        return everything[start : start + limit]

    found, cursor = listed_page(page, "a", 3, None)
    assert [s.doc_id for s in found] == ["d000", "d010", "d020"] and cursor == "d020"
    rest, end = listed_page(page, "a", 100, cursor)
    assert len(rest) == 27 and end is None
    asked.clear()
    none, cursor = listed_page(page, "c", 5, None)  # nothing of "c": bounded work, then a cursor
    assert none == [] and len(asked) == MAX_LIST_SCANS and cursor == "d099"
    plain, cursor = listed_page(page, None, 2, None)
    assert [s.doc_id for s in plain] == ["d000", "d001"] and cursor == "d001"


def test_every_filter_parameter_is_part_of_a_cached_statements_shape() -> None:
    """PostgreSQL statements are rendered once per filter shape: a parameter missing from the shape would
    let a statement rendered without the tenant condition serve a tenant's search."""
    collection = CollectionConfig(name="c", dimension=4)
    statements = SearchStatements(CollectionTables.of("faro", collection), 40)
    vector = np.zeros(4, dtype=np.float32)
    full = SearchFilter(doc_ids=["x"], metadata={"k": "v"}, tenant="a")
    assert set(statements.dense(vector, 5, full).params) - {"q", "k"} == set(FILTER_PARAMS)
    unfiltered = statements.dense(vector, 5, None).statement
    assert statements.dense(vector, 5, SearchFilter(tenant="a")).statement != unfiltered
