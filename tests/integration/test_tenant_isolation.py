"""Tenant isolation on real stores (PostgreSQL with pgvector, Qdrant in local mode): keys held to tenant A
never see, change or learn the content of tenant B's documents, on the Qdrant path, the PostgreSQL path
and the fallback when Qdrant is down, in every search mode; the tenant is named in the audit lines. (The
indexes: ``test_pgvector_store.py`` for PostgreSQL's, ``tests/unit/test_qdrant_indexes.py`` for Qdrant's.)"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faro_workloads.api.audit import AUDIT_LOGGER
from faro_workloads.api.auth import AccessCheck
from faro_workloads.api.key_ring import KeyRing
from faro_workloads.contract.access import TENANT_KEY, key_digest, new_key
from faro_workloads.contract.settings import ChunkingConfig, CollectionConfig, QueryConfig
from faro_workloads.core.document_errors import DocumentIdTaken
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore
from faro_workloads.data_plane import DataPlane

pytestmark = pytest.mark.integration

KEYS = {"alice": new_key(), "bob": new_key(), "ops": new_key(), "alice-reader": new_key()}
ENTRIES = [
    {"name": "alice", "sha256": key_digest(KEYS["alice"]), "scope": "write", "tenant": "tenant-a"},
    {
        "name": "alice-reader",
        "sha256": key_digest(KEYS["alice-reader"]),
        "scope": "query",
        "tenant": "tenant-a",
    },
    {"name": "bob", "sha256": key_digest(KEYS["bob"]), "scope": "write", "tenant": "tenant-b"},
    {"name": "ops", "sha256": key_digest(KEYS["ops"]), "scope": "admin"},  # not held to a tenant
]
TEXT = "Quarterly revenue report for the {who} team: revenue grew, costs fell, the forecast holds. "
MODES = ("dense", "lexical", "hybrid")


def _headers(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {KEYS[key]}"}


@pytest.fixture
def access(tmp_path: Path) -> AccessCheck:
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps({"keys": ENTRIES}))
    return AccessCheck(KeyRing(keys_file))


def _plane(pg: PgVectorStore, qdrant: QdrantStore, collection: CollectionConfig) -> DataPlane:
    return DataPlane(
        pg,
        qdrant,
        HashingEmbedder(dimension=collection.dimension),
        chunking=ChunkingConfig(strategy="markdown", size=64, overlap=8),
        query=QueryConfig(breaker_failures=100, qdrant_timeout_seconds=5),
    )


@pytest.fixture
def stores(
    pg_store: PgVectorStore, qdrant_store: QdrantStore, collection_config: CollectionConfig
) -> Iterator:
    plane = _plane(pg_store, qdrant_store, collection_config)
    yield plane
    plane.close()


def _upload(http: TestClient, key: str, doc_id: str, who: str, **extra: object):
    body = {"doc_id": doc_id, "text": TEXT.format(who=who) * 3, **extra}
    return http.post("/v1/documents", json=body, headers=_headers(key))


def _hits(http: TestClient, key: str, **body: object) -> tuple[str, set[str]]:
    answer = http.post(
        "/v1/query", json={"query": "quarterly revenue report", "top_k": 20, **body}, headers=_headers(key)
    )
    assert answer.status_code == 200, answer.text
    payload = answer.json()
    return payload["backend"], {hit["doc_id"] for hit in payload["hits"]}


def test_a_tenant_sees_and_touches_only_its_own_documents(
    stores: DataPlane, access: AccessCheck, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=AUDIT_LOGGER)
    with TestClient(stores.api(access=access)) as http:
        for doc_id in ("a-1", "a-2"):
            assert _upload(http, "alice", doc_id, "alpha").status_code == 201
        for doc_id in ("b-1", "b-2"):
            assert _upload(http, "bob", doc_id, "beta").status_code == 201
        assert _upload(http, "ops", "shared", "everyone").status_code == 201  # no tenant
        stores.drainer.drain()

        for backend in ("qdrant", "postgres"):
            for mode in MODES:
                for key, own in (
                    ("alice", {"a-1", "a-2"}),
                    ("alice-reader", {"a-1", "a-2"}),
                    ("bob", {"b-1", "b-2"}),
                ):
                    answered, found = _hits(http, key, backend=backend, mode=mode)
                    assert (answered, found) == (backend, own), (key, backend, mode)
            _, everything = _hits(http, "ops", backend=backend)
            assert everything == {"a-1", "a-2", "b-1", "b-2", "shared"}
        # asking for the other tenant's documents finds nothing; naming the other tenant is refused
        assert _hits(http, "alice", filter={"doc_ids": ["b-1", "shared"]})[1] == set()
        assert _hits(http, "alice", filter={"metadata": {TENANT_KEY: "tenant-b"}})[1] == set()
        refused = http.post(
            "/v1/query",
            json={"query": "revenue", "filter": {"tenant": "tenant-b"}},
            headers=_headers("alice"),
        )
        assert refused.status_code == 403
        assert _hits(http, "ops", filter={"tenant": "tenant-b"})[1] == {"b-1", "b-2"}

        # documents: list, read, delete, replace stay within the tenant
        listed = http.get("/v1/documents", params={"limit": 1}, headers=_headers("alice")).json()
        assert [d["doc_id"] for d in listed["documents"]] == ["a-1"]
        rest = http.get(
            "/v1/documents", params={"after": listed["next_after"]}, headers=_headers("alice")
        ).json()
        assert [d["doc_id"] for d in rest["documents"]] == ["a-2"] and rest["next_after"] is None
        assert http.get("/v1/documents/b-1", headers=_headers("alice")).status_code == 404
        assert http.get("/v1/documents/shared", headers=_headers("alice")).status_code == 404
        assert http.delete("/v1/documents/b-1", headers=_headers("alice")).status_code == 404
        taken = _upload(http, "alice", "b-1", "mallory")
        assert taken.status_code == 409 and "taken" in taken.json()["detail"]
        assert _upload(http, "alice", "a-3", "alpha", metadata={TENANT_KEY: "tenant-b"}).status_code == 403
        own = http.get("/v1/documents/a-1", headers=_headers("alice")).json()
        assert own["metadata"][TENANT_KEY] == "tenant-a"
        b_1 = http.get("/v1/documents/b-1", headers=_headers("bob")).json()
        assert b_1["state"] == "searchable" and b_1["metadata"] == {TENANT_KEY: "tenant-b"}
        assert _hits(http, "bob")[1] == {"b-1", "b-2"}  # bob's documents are as they were
        assert http.delete("/v1/documents/a-2", headers=_headers("alice")).status_code == 204
        assert _hits(http, "alice")[1] == {"a-1"}

    audit = [json.loads(r.getMessage()) for r in caplog.records if r.name == AUDIT_LOGGER]
    writes = {
        (a["identity"], a.get("tenant"), a["doc_id"], a["result"])
        for a in audit
        if a["event"] == "document.write"
    }
    assert ("alice", "tenant-a", "a-1", "created") in writes
    assert ("alice", "tenant-a", "b-1", "refused") in writes
    assert ("ops", None, "shared", "created") in writes
    deletes = {
        (a["identity"], a.get("tenant"), a["doc_id"], a["result"])
        for a in audit
        if a["event"] == "document.delete"
    }
    assert deletes == {("alice", "tenant-a", "b-1", "not_found"), ("alice", "tenant-a", "a-2", "deleted")}


def test_the_fallback_to_postgres_keeps_the_tenant_filter(
    pg_store: PgVectorStore,
    qdrant_store: QdrantStore,
    dead_qdrant_store: QdrantStore,
    collection_config: CollectionConfig,
    access: AccessCheck,
) -> None:
    writer = _plane(pg_store, qdrant_store, collection_config)
    down = _plane(pg_store, dead_qdrant_store, collection_config)  # the same PostgreSQL, Qdrant unreachable
    try:
        with TestClient(writer.api(access=access)) as http:
            assert _upload(http, "alice", "a-1", "alpha").status_code == 201
            assert _upload(http, "bob", "b-1", "beta").status_code == 201
        with TestClient(down.api(access=access)) as http:
            for mode in MODES:
                answered, found = _hits(http, "alice", mode=mode)
                assert (answered, found) == ("postgres", {"a-1"}), mode
                assert _hits(http, "bob", mode=mode) == ("postgres", {"b-1"})
    finally:
        writer.close()
        down.close()


def test_two_tenants_racing_for_one_new_id_leave_it_to_one_of_them(
    stores: DataPlane, access: AccessCheck, pg_store: PgVectorStore
) -> None:
    """Both uploads pass the look-up (the id is free); the writing transaction decides: the first holds the
    id, the second gets 409 — it never replaces the first tenant's document."""
    with TestClient(stores.api(access=access)) as http:
        for n in range(12):
            doc_id = f"contested-{n}"
            start = threading.Barrier(2)

            def upload(
                key: str, who: str, answers: dict[str, int], doc_id: str = doc_id, start=start
            ) -> None:
                start.wait()
                answers[key] = _upload(http, key, doc_id, who).status_code

            answers: dict[str, int] = {}
            racers = [
                threading.Thread(target=upload, args=(key, who, answers))
                for key, who in (("alice", "alpha"), ("bob", "beta"))
            ]
            for racer in racers:
                racer.start()
            for racer in racers:
                racer.join(30)
            assert sorted(answers.values()) == [201, 409], answers
            winner = "tenant-a" if answers["alice"] == 201 else "tenant-b"
            stored = pg_store.get_document(doc_id)
            assert stored is not None and stored.metadata[TENANT_KEY] == winner


def test_a_write_held_to_a_tenant_cannot_replace_another_tenants_document(
    pg_store: PgVectorStore, make_chunks, make_record
) -> None:
    chunks = make_chunks("shared", 2, dimension=pg_store.collection.dimension)
    theirs = make_record(chunks)
    theirs = replace(theirs, metadata={**theirs.metadata, TENANT_KEY: "tenant-a"})
    pg_store.write_document(replace(theirs, held_tenant="tenant-a"), chunks)

    taken = replace(theirs, metadata={TENANT_KEY: "tenant-b"}, content_hash="other", held_tenant="tenant-b")
    with pytest.raises(DocumentIdTaken):
        pg_store.write_document(taken, chunks)
    assert pg_store.get_document("shared").metadata[TENANT_KEY] == "tenant-a"  # untouched

    pg_store.write_document(replace(taken, held_tenant=None), chunks)  # an admin (held to none) may
    assert pg_store.get_document("shared").metadata[TENANT_KEY] == "tenant-b"


def test_a_delete_held_to_a_tenant_leaves_another_tenants_document_whole(
    pg_store: PgVectorStore, make_chunks, make_record
) -> None:
    chunks = make_chunks("kept", 3, dimension=pg_store.collection.dimension)
    theirs = make_record(chunks)
    pg_store.write_document(replace(theirs, metadata={**theirs.metadata, TENANT_KEY: "tenant-a"}), chunks)

    assert pg_store.delete_document("kept", held_tenant="tenant-b") is None
    assert pg_store.get_document("kept") is not None and pg_store.count() == 3  # document and chunks kept
    assert pg_store.delete_document("unknown", held_tenant="tenant-a") is None
    assert pg_store.delete_document("kept", held_tenant="tenant-a") is not None
    assert pg_store.get_document("kept") is None and pg_store.count() == 0
