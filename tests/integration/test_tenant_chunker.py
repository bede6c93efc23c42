"""Tenant isolation on the cluster's documents path: the chunking service over S3 (moto) keeps each
document's tenant in its chunk object's head, so reads, lists, deletes and replaces are held to the
caller's tenant, even for documents whose metadata is too long for the head."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faro_workloads.contract.access import TENANT_KEY, key_digest, new_key
from faro_workloads.contract.auth_settings import AuthConfig
from faro_workloads.contract.settings import FaroSettings
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
