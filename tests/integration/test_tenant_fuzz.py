"""A schemathesis run with tenant A's key against a data plane that holds tenant B's documents (real
PostgreSQL and Qdrant local mode): every phase, every check, and on top of them, that nothing tenant A's
requests got back names or quotes one of tenant B's documents, and that B's documents are as they were
after the run (no cross-tenant read or write, whatever the generated requests)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faro_workloads.api.auth import AccessCheck
from faro_workloads.api.key_ring import KeyRing
from faro_workloads.contract.access import key_digest, new_key
from faro_workloads.contract.settings import ChunkingConfig, IngestConfig
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.data_plane import DataPlane

from support.schemathesis_run import ALWAYS_RUN, run_schemathesis

pytestmark = pytest.mark.integration

ALICE, BOB = new_key(), new_key()
MARKER = "zebracrossing"  # a word only tenant B's documents hold
B_DOCUMENTS = {f"b-secret-{i}": f"Tenant B's {MARKER} plan number {i}: do not share." for i in range(5)}
# Fewer examples than the main run: the checks are the same; this run is about whose data comes back.
TENANT_EXAMPLES = 40


@pytest.fixture
def tenant_plane(pg_store_factory, qdrant_store_factory) -> Iterator[DataPlane]:
    pg = pg_store_factory(dimension=32)
    plane = DataPlane(
        pg,
        qdrant_store_factory(pg.collection),
        HashingEmbedder(dimension=32),
        chunking=ChunkingConfig(strategy="recursive", size=32, overlap=4),
        ingest=IngestConfig(),
    )
    yield plane
    plane.close()


def test_tenant_a_can_neither_read_nor_change_tenant_b(tenant_plane: DataPlane, tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    entries = [
        {"name": "alice", "sha256": key_digest(ALICE), "scope": "write", "tenant": "tenant-a"},
        {"name": "bob", "sha256": key_digest(BOB), "scope": "write", "tenant": "tenant-b"},
    ]
    keys.write_text(json.dumps({"keys": entries}))
    app = tenant_plane.api(access=AccessCheck(KeyRing(keys)))
    bob = {"authorization": f"Bearer {BOB}"}
    with TestClient(app) as http:
        for doc_id, text in B_DOCUMENTS.items():
            assert (
                http.post("/v1/documents", json={"doc_id": doc_id, "text": text}, headers=bob).status_code
                == 201
            )
        before = http.get("/v1/documents", headers=bob).json()["documents"]

    run = run_schemathesis(app, headers={"Authorization": f"Bearer {ALICE}"}, max_examples=TENANT_EXAMPLES)

    assert set(run.checks_run) >= ALWAYS_RUN, f"checks that never ran: {ALWAYS_RUN - set(run.checks_run)}"
    assert not run.findings and not run.errors, run.report()
    answered = [(label, status) for label, status, _ in run.responses if status < 300]
    assert {label for label, _ in answered} >= {"POST /v1/query", "POST /v1/documents", "GET /v1/documents"}
    leaks = [
        (label, status, body[:200])
        for label, status, body in run.responses
        if MARKER.encode() in body or b"b-secret-" in body
    ]
    assert not leaks, leaks
    with TestClient(app) as http:
        after = http.get("/v1/documents", headers=bob).json()["documents"]
        assert [(d["doc_id"], d["content_hash"]) for d in after] == [
            (d["doc_id"], d["content_hash"]) for d in before
        ]
        hits = http.post("/v1/query", json={"query": MARKER, "top_k": 10}, headers=bob).json()["hits"]
        assert {hit["doc_id"] for hit in hits} == set(B_DOCUMENTS)
