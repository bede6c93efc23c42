"""Which secrets each workload gets, and how: files of one read-only volume, never environment variables."""

from __future__ import annotations

import json
from typing import Any

from faro_operator.builders import Component, build_component_deployment, build_consistency_cronjob
from faro_operator.builders.component_env import FALLBACK_TARGETS, SECRETS_VOLUME, fallback_key_file
from faro_operator.specs import RagPipelineSpec
from faro_workloads.contract.secret_files import SECRETS_DIR_VARIABLE

from support.operator_builders import (
    PIPELINE,
    SECRET_VALUES,
    collection_spec,
    full_pipeline_spec,
    only_container,
    pipeline_spec,
    pod_spec,
    projected_files,
    resolved,
    secret_files,
    validate_strict,
)

CHECKSUM = "a" * 64
STORE_SECRETS = {"FARO_POSTGRES__DSN", "FARO_QDRANT__API_KEY"}
EMBEDDING_SECRETS = {
    "FARO_EMBEDDING__API_KEY",
    "FARO_EMBEDDING__PORTKEY_API_KEY",
    "FALLBACK_TARGET_0_API_KEY",
}


def _deployment(component: Component, spec: RagPipelineSpec | None = None) -> dict[str, Any]:
    return build_component_deployment(component, PIPELINE, spec or full_pipeline_spec(), resolved(), CHECKSUM)


def test_each_component_gets_only_the_secrets_it_needs() -> None:
    assert set(secret_files(_deployment(Component.CHUNKER))) == {"FARO_POSTGRES__DSN"}
    assert set(secret_files(_deployment(Component.EMBEDDER))) == STORE_SECRETS | EMBEDDING_SECRETS
    assert set(secret_files(_deployment(Component.QUERY))) == STORE_SECRETS | EMBEDDING_SECRETS | {
        "FARO_AUTH__API_KEY"
    }
    cronjob = build_consistency_cronjob(PIPELINE, full_pipeline_spec(), resolved())
    assert set(secret_files(cronjob)) == STORE_SECRETS


def test_no_secret_is_an_environment_variable_and_the_files_are_read_only() -> None:
    cronjob = build_consistency_cronjob(PIPELINE, full_pipeline_spec(), resolved())
    for manifest in [
        *(_deployment(c) for c in (Component.CHUNKER, Component.EMBEDDER, Component.QUERY)),
        cronjob,
    ]:
        container = only_container(manifest)
        assert not [entry for entry in container["env"] if "secretKeyRef" in entry.get("valueFrom", {})]
        assert not any(secret in str(manifest) for secret in SECRET_VALUES.values())
        env = {entry["name"]: entry.get("value") for entry in container["env"]}
        mount = next(m for m in container["volumeMounts"] if m["name"] == SECRETS_VOLUME)
        assert mount == {"name": SECRETS_VOLUME, "mountPath": env[SECRETS_DIR_VARIABLE], "readOnly": True}
        volume = next(v for v in pod_spec(manifest)["volumes"] if v["name"] == SECRETS_VOLUME)
        assert volume["projected"]["defaultMode"] == 0o440  # the pod's user and its fsGroup only ...
        security = pod_spec(manifest)["securityContext"]
        assert (
            security["fsGroup"] == security["runAsGroup"]
        )  # ... which must be the user's group to read them


def test_a_semantic_chunker_gets_the_embedding_secrets_too() -> None:
    """It embeds sentences to find its cuts, through the embedder's gateway and keys."""
    spec = full_pipeline_spec()
    semantic = spec.model_copy(update={"chunking": spec.chunking.model_copy(update={"strategy": "semantic"})})
    assert set(secret_files(_deployment(Component.CHUNKER, semantic))) == {"FARO_POSTGRES__DSN"} | (
        EMBEDDING_SECRETS
    )


def test_secret_files_hold_the_spec_secrets() -> None:
    files = secret_files(_deployment(Component.QUERY))
    assert files["FARO_POSTGRES__DSN"] == ("pg", "dsn")
    assert files["FARO_QDRANT__API_KEY"] == ("qdrant", "api-key")
    assert files["FARO_EMBEDDING__API_KEY"] == ("openai", "key")
    assert files["FARO_EMBEDDING__PORTKEY_API_KEY"] == ("portkey", "key")
    assert files["FARO_AUTH__API_KEY"] == ("query-auth", "key")


def test_only_the_query_service_gets_the_read_endpoint() -> None:
    """Searches may read a replica; ingest, the outbox and the consistency check need the primary."""
    read = {"postgres": {"readDsnSecretRef": {"name": "pg", "key": "read-dsn"}}}
    collection = resolved(collection_spec(**read))
    for component in (Component.CHUNKER, Component.EMBEDDER, Component.QUERY):
        deployment = build_component_deployment(component, PIPELINE, pipeline_spec(), collection, CHECKSUM)
        files = secret_files(deployment)
        if component is Component.QUERY:
            assert files["FARO_POSTGRES__READ_DSN"] == ("pg", "read-dsn")
        else:
            assert "FARO_POSTGRES__READ_DSN" not in files


def test_minimal_spec_mounts_only_the_dsn() -> None:
    spec = pipeline_spec()
    collection = resolved(collection_spec(qdrant={"apiKeySecretRef": None}))
    for component in (Component.EMBEDDER, Component.QUERY):
        deployment = build_component_deployment(component, PIPELINE, spec, collection, CHECKSUM)
        validate_strict(deployment)
        assert set(secret_files(deployment)) == {"FARO_POSTGRES__DSN"}


def test_a_fallback_targets_key_is_a_file_the_json_names() -> None:
    pod = pod_spec(_deployment(Component.EMBEDDER))
    (container,) = pod["containers"]
    targets = json.loads(next(e["value"] for e in container["env"] if e["name"] == FALLBACK_TARGETS))
    assert [target.get("api_key_file") for target in targets] == [fallback_key_file(0), None]
    (volume,) = [v for v in pod["volumes"] if v["name"] == SECRETS_VOLUME]
    items = projected_files(volume["projected"])
    assert items[fallback_key_file(0)] == ("fallback", "key")
    assert fallback_key_file(1) not in items
    assert "sk-fallback" not in str(pod)
