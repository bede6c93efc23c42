"""Tied chunks on the real stores: the same paragraph in several documents ties by vector and by words, and
Qdrant and PostgreSQL each hand tied chunks out in their own order. Through the query API both answer with
the same chunks in the same order, in every mode and grouped, tied chunks by id, also when fewer places are
asked for than chunks tie."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from faro_workloads.core.documents import chunk_point_id
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.ingest import IncomingDocument
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.data_plane import DataPlane

pytestmark = pytest.mark.integration

DIMENSION = 64
BOILERPLATE = "Every file in this folder is covered by the licence of the project it ships with."
OTHERS = {
    "restart": "Restart the workers one at a time, then drain the outbox before the next.",
    "backup": "Backups of PostgreSQL run nightly; a restore is tested once a month.",
}
COPIES = [f"module-{n}" for n in (7, 3, 9, 1, 5, 8)]


@pytest.fixture
def plane(pg_store_factory, qdrant_store_factory) -> Iterator[DataPlane]:
    pg: PgVectorStore = pg_store_factory(dimension=DIMENSION)
    data_plane = DataPlane(pg, qdrant_store_factory(pg.collection), HashingEmbedder(dimension=DIMENSION))
    for doc_id in COPIES:  # one chunk each, the same text: tied by vector and by words
        data_plane.ingest.ingest(IncomingDocument(doc_id, BOILERPLATE, "test"))
    for doc_id, text in OTHERS.items():
        data_plane.ingest.ingest(IncomingDocument(doc_id, text, "test"))
    yield data_plane
    data_plane.close()


def _order(client: TestClient, backend: str, mode: str, top_k: int, per_document: int = 0) -> list[str]:
    body = {
        "query": BOILERPLATE,
        "top_k": top_k,
        "backend": backend,
        "mode": mode,
        "max_per_document": per_document,
    }
    answer = client.post("/v1/query", json=body)
    assert answer.status_code == 200, answer.text
    return [hit["doc_id"] for hit in answer.json()["hits"]]


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
@pytest.mark.parametrize("per_document", [0, 1], ids=["ungrouped", "grouped"])
def test_tied_chunks_come_in_the_same_order_from_both_stores(
    plane: DataPlane, mode: str, per_document: int
) -> None:
    by_id = sorted(COPIES, key=lambda doc_id: chunk_point_id(doc_id, 0))
    with TestClient(plane.api()) as client:
        for top_k in (3, len(COPIES)):
            from_qdrant = _order(client, "qdrant", mode, top_k, per_document)
            from_pg = _order(client, "postgres", mode, top_k, per_document)
            assert from_qdrant == from_pg, (mode, top_k)
            assert from_qdrant == by_id[:top_k], (mode, top_k)  # the tied copies first, by chunk id
