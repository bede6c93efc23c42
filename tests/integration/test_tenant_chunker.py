"""Tenant isolation on the cluster's documents path: the chunking service over S3 (moto) keeps each
document's tenant in its chunk object's head, so reads, lists, deletes and replaces are held to the
caller's tenant, even for documents whose metadata is too long for the head."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from faro_workloads.contract.access import TENANT_KEY, key_digest, new_key
from faro_workloads.contract.auth_settings import AuthConfig
from faro_workloads.contract.settings import FaroSettings
from faro_workloads.core.chunk_objects import ChunkObject, ChunkObjectLayout
from faro_workloads.core.document_errors import DocumentIdTaken
from faro_workloads.core.documents import ChunkSpan, content_hash
from faro_workloads.core.stores.s3_chunks import S3ChunkStore
from faro_workloads.services.chunker import build_chunker_app

pytestmark = pytest.mark.integration

KEYS = {"alice": new_key(), "bob": new_key(), "ops": new_key()}


def test_the_chunking_service_holds_each_caller_to_its_tenant(aws_pipeline, tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    entries = [
        {"name": "alice", "sha256": key_digest(KEYS["alice"]), "scope": "write", "tenant": "tenant-a"},
        {"name": "bob", "sha256": key_digest(KEYS["bob"]), "scope": "write", "tenant": "tenant-b"},
        {"name": "ops", "sha256": key_digest(KEYS["ops"]), "scope": "admin"},
    ]
    keys_file.write_text(json.dumps({"keys": entries}))
    settings = FaroSettings(
        pipeline=aws_pipeline.pipeline, s3=aws_pipeline.s3_config, auth=AuthConfig(keys_file=keys_file)
    )

    def as_(who: str) -> dict[str, str]:
        return {"authorization": f"Bearer {KEYS[who]}"}

    long_metadata = {f"field{i}": "x" * 100 for i in range(20)}  # beyond what a chunk object's head holds
    with TestClient(build_chunker_app(settings, aws_pipeline.s3)) as http:
        for who, doc_id, metadata in (
            ("alice", "a-1", long_metadata),
            ("bob", "b-1", {}),
            ("ops", "o-1", {}),
        ):
            body = {"doc_id": doc_id, "text": f"The {doc_id} report.", "metadata": metadata}
            assert http.post("/v1/documents", json=body, headers=as_(who)).status_code == 202
        own = http.get("/v1/documents/a-1", headers=as_("alice"))
        assert own.status_code == 200 and own.json()["metadata"] == {TENANT_KEY: "tenant-a"}
        assert http.get("/v1/documents/b-1", headers=as_("alice")).status_code == 404
        assert http.get("/v1/documents/o-1", headers=as_("alice")).status_code == 404
        listed = http.get("/v1/documents", headers=as_("alice")).json()["documents"]
        assert [d["doc_id"] for d in listed] == ["a-1"]
        assert [d["doc_id"] for d in http.get("/v1/documents", headers=as_("bob")).json()["documents"]] == [
            "b-1"
        ]
        assert len(http.get("/v1/documents", headers=as_("ops")).json()["documents"]) == 3
        replace = {"doc_id": "b-1", "text": "Taken over."}
        assert http.post("/v1/documents", json=replace, headers=as_("alice")).status_code == 409
        assert http.delete("/v1/documents/b-1", headers=as_("alice")).status_code == 404
        assert (
            http.get("/v1/documents/b-1", headers=as_("bob")).json()["content_hash"]
            == (http.get("/v1/documents/b-1", headers=as_("ops")).json()["content_hash"])
        )
        assert http.delete("/v1/documents/b-1", headers=as_("bob")).status_code == 202
        # once deleted, the id is free to take
        assert http.post("/v1/documents", json=replace, headers=as_("alice")).status_code == 202
        assert http.get("/v1/documents/b-1", headers=as_("alice")).json()["metadata"] == {
            TENANT_KEY: "tenant-a"
        }


class WriteBetween:
    """The moto client, but the first look at ``key`` is followed at once by ``write()`` (another upload
    landing between the store's check and its write)."""

    def __init__(self, s3: Any, key: str, write: Callable[[], None]) -> None:
        self._s3, self._key, self._write = s3, key, write

    def head_object(self, **kwargs: Any) -> Any:
        try:
            return self._s3.head_object(**kwargs)
        finally:
            if kwargs["Key"] == self._key and self._write is not None:
                write, self._write = self._write, None
                write()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)


def _document(pipeline: str, doc_id: str, text: str, tenant: str | None) -> ChunkObject:
    metadata = {TENANT_KEY: tenant} if tenant else {}
    return ChunkObject(
        pipeline, doc_id, content_hash(text), "upload", metadata, [ChunkSpan(text, 0, len(text))]
    )


def test_an_upload_racing_another_tenants_for_one_id_never_replaces_it(aws_pipeline) -> None:
    """The check and the write are one: the write is conditional on the version checked, so another
    tenant's upload landing in between is seen, and the held upload refused (409 at the API)."""
    layout = ChunkObjectLayout(aws_pipeline.s3_config.prefix, aws_pipeline.pipeline)
    bucket, key = aws_pipeline.s3_config.bucket, layout.document_key("contested")
    plain = S3ChunkStore(aws_pipeline.s3, bucket, layout)
    bob = _document(aws_pipeline.pipeline, "contested", "Bob's plan.", "tenant-b")
    racing = S3ChunkStore(
        WriteBetween(aws_pipeline.s3, key, lambda: plain.put_document(bob, "tenant-b")), bucket, layout
    )
    alice = _document(aws_pipeline.pipeline, "contested", "Alice's plan.", "tenant-a")
    with pytest.raises(DocumentIdTaken):
        racing.put_document(alice, held_tenant="tenant-a")  # nothing there when it looked: B wrote since
    stored = plain.read(key)
    assert stored is not None and stored.content_hash == bob.content_hash

    # a caller not held to a tenant is not refused: it looks again and writes over the version it saw
    other = layout.document_key("shared")
    first = _document(aws_pipeline.pipeline, "shared", "First.", None)
    racing = S3ChunkStore(
        WriteBetween(aws_pipeline.s3, other, lambda: plain.put_document(first)), bucket, layout
    )
    second = _document(aws_pipeline.pipeline, "shared", "Second.", None)
    assert racing.put_document(second) is True
    stored = plain.read(other)
    assert stored is not None and stored.content_hash == second.content_hash


def test_a_held_delete_never_removes_another_tenants_document_that_took_the_id_meanwhile(
    aws_pipeline,
) -> None:
    """Between the delete's look (tenant A's document) and the delete itself, A's document goes and tenant
    B uploads the freed id: the delete is conditional on the version it looked at, so B's stays."""
    layout = ChunkObjectLayout(aws_pipeline.s3_config.prefix, aws_pipeline.pipeline)
    bucket, key = aws_pipeline.s3_config.bucket, layout.document_key("freed")
    plain = S3ChunkStore(aws_pipeline.s3, bucket, layout)
    alice = _document(aws_pipeline.pipeline, "freed", "Alice's draft.", "tenant-a")
    bob = _document(aws_pipeline.pipeline, "freed", "Bob's plan.", "tenant-b")
    assert plain.put_document(alice, held_tenant="tenant-a")

    def freed_and_taken() -> None:
        assert plain.delete_document("freed", held_tenant="tenant-a")
        assert plain.put_document(bob, held_tenant="tenant-b")

    racing = S3ChunkStore(WriteBetween(aws_pipeline.s3, key, freed_and_taken), bucket, layout)
    assert racing.delete_document("freed", held_tenant="tenant-a") is False
    stored = plain.read(key)
    assert stored is not None and stored.content_hash == bob.content_hash

    assert plain.delete_document("freed", held_tenant="tenant-a") is False  # B's, not A's
    assert plain.delete_document("freed", held_tenant="tenant-b") is True
    assert plain.read(key) is None
    assert plain.put_document(alice) and plain.delete_document("freed") is True  # an admin's: no tenant
