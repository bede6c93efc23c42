"""The payload indexes Faro asks of Qdrant for a collection (qdrant-client local mode keeps no payload
indexes, so what is asked is checked here; the filter that uses them runs on real stores in
``tests/integration/test_tenant_isolation.py``)."""

from __future__ import annotations

from typing import Any

from qdrant_client import models

from faro_workloads.contract.access import TENANT_KEY
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.qdrant_filter import to_qdrant_filter
from faro_workloads.core.stores.qdrant_indexes import create_payload_indexes, create_tenant_index


class Recording:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str, Any]] = []

    def create_payload_index(self, collection: str, field: str, field_schema: Any, wait: bool) -> None:
        assert wait
        self.asked.append((collection, field, field_schema))


def test_a_new_collection_gets_the_doc_id_and_tenant_indexes() -> None:
    client = Recording()
    create_payload_indexes(client, "docs", local=False)  # type: ignore[arg-type]
    assert client.asked == [
        ("docs", "doc_id", models.PayloadSchemaType.KEYWORD),
        (
            "docs",
            f"metadata.{TENANT_KEY}",
            models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
        ),
    ]
    existing = Recording()
    create_tenant_index(existing, "docs", local=True)  # type: ignore[arg-type]
    assert [field for _, field, _ in existing.asked] == [f"metadata.{TENANT_KEY}"]


def test_the_tenant_filter_is_a_condition_on_the_indexed_field() -> None:
    flt = to_qdrant_filter(SearchFilter(tenant="tenant-a", metadata={"lang": "en"}))
    assert flt is not None and flt.must == [
        models.FieldCondition(key="metadata.lang", match=models.MatchValue(value="en")),
        models.FieldCondition(key=f"metadata.{TENANT_KEY}", match=models.MatchValue(value="tenant-a")),
    ]
    assert not SearchFilter(tenant="tenant-a").is_empty()
