"""The settings ConfigMap, its checksum, and proof that the workloads accept what the operator renders."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from pydantic import ValidationError

from faro_operator.builders import (
    Component,
    build_component_deployment,
    build_consistency_cronjob,
    build_settings_configmap,
    settings_checksum,
)
from faro_operator.builders.component_env import FALLBACK_TARGETS
from faro_operator.specs import RagPipelineSpec
from faro_workloads.cli import cli, consistency_command, serve_commands
from faro_workloads.consistency_job import load_settings
from faro_workloads.contract.settings import Distance, FaroSettings

from support.operator_builders import (
    NAMESPACE,
    PIPELINE,
    SECRET_VALUES,
    collection_spec,
    full_pipeline_spec,
    pipeline_spec,
    pod_environment,
    pod_spec,
    resolved,
    validate_strict,
)

COMMAND_MODULES = (serve_commands, consistency_command)
"""Imported for their side effect: they register ``faro serve ...`` and ``faro consistency`` on ``cli``."""


def _configmap(spec: RagPipelineSpec | None = None) -> dict:
    return build_settings_configmap(PIPELINE, spec or full_pipeline_spec(), resolved())


def test_configmap_renders_every_setting_of_a_full_spec() -> None:
    configmap = _configmap()
    validate_strict(configmap)
    assert configmap["metadata"]["name"] == "docs-pipeline-settings"
    assert configmap["metadata"]["namespace"] == NAMESPACE
    assert configmap["metadata"]["ownerReferences"] == [PIPELINE.reference()]
    assert configmap["metadata"]["labels"]["app.kubernetes.io/component"] == "settings"
    assert configmap["data"] == {
        "FARO_PIPELINE": "docs-pipeline",
        "FARO_COLLECTION__NAME": "docs",
        "FARO_COLLECTION__DIMENSION": "1536",
        "FARO_COLLECTION__DISTANCE": "dot",
        "FARO_POSTGRES__SCHEMA_NAME": "rag",
        "FARO_QDRANT__URL": "http://docs-qdrant.team-a.svc:6333",
        "FARO_QDRANT__SHARDS": "1",
        "FARO_HNSW__M": "16",
        "FARO_HNSW__EF_CONSTRUCT": "100",
        "FARO_HNSW__BUILD_WORKERS": "4",
        "FARO_QDRANT__REPLICATION_FACTOR": "1",
        "FARO_QDRANT__WRITE_CONSISTENCY_FACTOR": "1",
        "FARO_S3__BUCKET": "faro-docs",
        "FARO_S3__PREFIX": "kb",
        "FARO_S3__REGION": "eu-west-1",
        "FARO_S3__ENDPOINT_URL": "http://minio.storage:9000",
        "FARO_SQS__QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/faro",
        "FARO_SQS__DEAD_LETTER_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/faro-dlq",
        "FARO_SQS__MAX_RECEIVES": "7",
        "FARO_SQS__REGION": "eu-west-1",
        "FARO_SQS__ENDPOINT_URL": "http://minio.storage:9000",
        "FARO_CHUNKING__STRATEGY": "markdown",
        "FARO_CHUNKING__SIZE": "400",
        "FARO_CHUNKING__OVERLAP": "40",
        "FARO_CHUNKING__CONTEXT": "title-lead-headings",
        "FARO_CHUNKING__SEMANTIC_PERCENTILE": "90",
        "FARO_EMBEDDING__KIND": "portkey",
        "FARO_EMBEDDING__GATEWAY_URL": "http://portkey:8787/v1",
        "FARO_EMBEDDING__PROVIDER": "openai",
        "FARO_EMBEDDING__CUSTOM_HOST": "http://vllm.models:8000/v1",
        "FARO_EMBEDDING__MODEL": "text-embedding-3-small",
        "FARO_EMBEDDING__DIMENSION": "1536",
        "FARO_EMBEDDING__BATCH_SIZE": "32",
        "FARO_EMBEDDING__GATEWAY_RETRY_ATTEMPTS": "2",
        "FARO_AUTH__ANONYMOUS": "false",  # closed unless the spec opens it
        # service-account tokens for the pipeline's own audience, reviewed in its namespace
        "FARO_AUTH__SERVICE_ACCOUNTS__AUDIENCE": "faro.dev/team-a/docs-pipeline",
        "FARO_AUTH__SERVICE_ACCOUNTS__NAMESPACE": "team-a",
        "FARO_QUERY__DEFAULT_TOP_K": "8",
        "FARO_QUERY__DEFAULT_MODE": "dense",
        "FARO_QUERY__LEXICAL_WEIGHT": "0.5",
        "FARO_CONSISTENCY__SAMPLE_SIZE": "200",
        "FARO_CONSISTENCY__K": "20",
        "FARO_CONSISTENCY__MIN_OVERLAP": "0.9",
        "FARO_CONSISTENCY__REPAIR": "true",
        "FARO_CONSISTENCY__PUSHGATEWAY_URL": "http://pushgateway.monitoring:9091",
        "FARO_CONSISTENCY__CENSUS": "true",
        "FARO_CONSISTENCY__CENSUS_GRACE_SECONDS": "300",
        "FARO_CONSISTENCY__MAX_ORPHAN_DELETES": "1000",
        "FARO_GENERATIONS__CUTOVER": "Manual",
        "FARO_GENERATIONS__RETAIN": "2",
        "FARO_GENERATIONS__MIN_OVERLAP": "0.9",
        "FARO_GENERATIONS__GOLDEN_QUERIES": "/etc/faro/golden-queries/queries.yaml",
        "FARO_GENERATIONS__RECALL_K": "5",
        "FARO_GENERATIONS__MAX_RECALL_DROP": "0.02",
    }


def test_configmap_holds_no_secret_and_leaves_unset_options_out() -> None:
    data = _configmap(pipeline_spec())["data"]
    for absent in (
        "FARO_POSTGRES__DSN",
        "FARO_QDRANT__API_KEY",
        "FARO_EMBEDDING__API_KEY",
        "FARO_EMBEDDING__PORTKEY_API_KEY",
        "FARO_AUTH__API_KEY",
        FALLBACK_TARGETS,
        "FARO_S3__ENDPOINT_URL",
        "FARO_SQS__DEAD_LETTER_QUEUE_URL",
        "FARO_EMBEDDING__CUSTOM_HOST",
        "FARO_CONSISTENCY__PUSHGATEWAY_URL",
        "FARO_CONSISTENCY__NAMESPACE",
    ):
        assert absent not in data
    assert data["FARO_CONSISTENCY__REPAIR"] == "false"
    assert all(isinstance(value, str) for value in data.values())
    assert not any(secret in data.values() for secret in SECRET_VALUES.values())


def test_in_cluster_qdrant_url_is_used_as_given() -> None:
    spec = collection_spec(qdrant={"external": None, "url": "http://qdrant.qdrant.svc:6333"})
    data = build_settings_configmap(PIPELINE, pipeline_spec(), resolved(spec))["data"]
    assert data["FARO_QDRANT__URL"] == "http://qdrant.qdrant.svc:6333"


def test_a_qdrant_cluster_layout_reaches_the_workloads_and_the_operators_stores() -> None:
    """Index generations' collections are created by the workloads: they get the layout the operator uses."""
    from faro_operator.collection_stores import store_configs

    cluster = {"shards": 6, "replicationFactor": 3, "writeConsistencyFactor": 2}
    spec = collection_spec(
        qdrant={"external": None, "url": "http://qdrant.qdrant.svc:6333", "cluster": cluster}
    )
    data = build_settings_configmap(PIPELINE, pipeline_spec(), resolved(spec))["data"]
    assert [
        data[f"FARO_QDRANT__{key}"] for key in ("SHARDS", "REPLICATION_FACTOR", "WRITE_CONSISTENCY_FACTOR")
    ] == [
        "6",
        "3",
        "2",
    ]

    class Secrets:
        def value(self, namespace: str, ref: object) -> str:
            return "postgresql:///faro"

    qdrant = store_configs("docs", NAMESPACE, spec, Secrets()).qdrant  # type: ignore[arg-type]
    assert (qdrant.shards, qdrant.replication_factor, qdrant.write_consistency_factor) == (6, 3, 2)
    with pytest.raises(ValidationError, match="writeConsistencyFactor may not exceed replicationFactor"):
        collection_spec(
            qdrant={"url": "http://q:6333", "external": None, "cluster": {"writeConsistencyFactor": 2}}
        )


def test_checksum_changes_exactly_when_a_setting_changes() -> None:
    base = settings_checksum(_configmap())
    assert len(base) == 64 and int(base, 16) >= 0
    assert settings_checksum(_configmap()) == base
    # not settings: replicas, images, IAM roles, secret references, the owner's uid
    assert settings_checksum(_configmap(full_pipeline_spec(chunker={"replicas": 9}))) == base
    assert settings_checksum(_configmap(full_pipeline_spec(image={"tag": "0.2.0"}))) == base
    assert (
        settings_checksum(_configmap(full_pipeline_spec(query={"authSecretRef": {"name": "other"}}))) == base
    )
    # settings
    assert settings_checksum(_configmap(full_pipeline_spec(chunking={"size": 500}))) != base
    assert settings_checksum(_configmap(full_pipeline_spec(source={"bucket": "other-bucket"}))) != base
    assert settings_checksum(_configmap(full_pipeline_spec(consistency={"repair": False}))) != base


def test_checksum_ignores_key_order_and_metadata() -> None:
    configmap = _configmap()
    reordered = {**configmap, "data": dict(reversed(list(configmap["data"].items())))}
    relabelled = {**configmap, "metadata": {"name": "other"}}
    assert settings_checksum(reordered) == settings_checksum(configmap) == settings_checksum(relabelled)


# ----------------------------------------------------------------- the workloads accept the rendered settings


@pytest.fixture
def clean_faro_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No FARO_* variable of the test process leaks into the settings under test; the working folder is
    the test's own (the pods' secret files are written there)."""
    for name in list(os.environ):
        if name.startswith("FARO_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def _settings_of(
    pod: dict,
    configmap: dict,
    monkeypatch: pytest.MonkeyPatch,
    secrets: dict[tuple[str, str], str] | None = None,
) -> FaroSettings:
    """The settings ``pod``'s container starts with: its variables, and its secret files as mounted."""
    folder = Path(tempfile.mkdtemp(dir=Path.cwd()))
    configmaps = {configmap["metadata"]["name"]: configmap["data"]}
    for name, value in pod_environment(pod, configmaps, folder, secrets).items():
        monkeypatch.setenv(name, value)
    return FaroSettings()


def _pod(component: Component, spec: RagPipelineSpec) -> dict:
    collection = resolved()
    if component is Component.CONSISTENCY:
        manifest = build_consistency_cronjob(PIPELINE, spec, collection)
    else:
        manifest = build_component_deployment(component, PIPELINE, spec, collection, "0" * 64)
    return pod_spec(manifest)


def test_embedder_settings_carry_the_spec(clean_faro_environment: pytest.MonkeyPatch) -> None:
    spec = full_pipeline_spec()
    settings = _settings_of(_pod(Component.EMBEDDER, spec), _configmap(spec), clean_faro_environment)
    settings.require("s3", "sqs")
    assert settings.pipeline == "docs-pipeline"
    assert settings.collection.name == "docs"
    assert settings.collection.dimension == 1536
    assert settings.collection.distance is Distance.DOT
    assert settings.postgres.dsn.get_secret_value() == SECRET_VALUES["pg", "dsn"]
    assert settings.postgres.schema_name == "rag"
    assert settings.qdrant.url == "http://docs-qdrant.team-a.svc:6333"
    assert settings.qdrant.path is None
    assert settings.qdrant.api_key is not None
    assert settings.qdrant.api_key.get_secret_value() == "qdrant-key"
    assert settings.s3 is not None and settings.sqs is not None
    assert (settings.s3.bucket, settings.s3.prefix, settings.s3.region) == ("faro-docs", "kb", "eu-west-1")
    assert settings.s3.endpoint_url == "http://minio.storage:9000"
    assert settings.sqs.queue_url.endswith("/faro")
    assert settings.sqs.dead_letter_queue_url is not None and settings.sqs.dead_letter_queue_url.endswith(
        "-dlq"
    )
    assert (settings.sqs.max_receives, settings.sqs.region) == (7, "eu-west-1")
    assert (settings.chunking.strategy, settings.chunking.size, settings.chunking.overlap) == (
        "markdown",
        400,
        40,
    )
    embedding = settings.embedding
    assert (embedding.kind, embedding.model, embedding.dimension) == (
        "portkey",
        "text-embedding-3-small",
        1536,
    )
    assert (embedding.gateway_url, embedding.custom_host) == (
        "http://portkey:8787/v1",
        "http://vllm.models:8000/v1",
    )
    assert (embedding.batch_size, embedding.gateway_retry_attempts) == (32, 2)
    assert embedding.api_key is not None and embedding.api_key.get_secret_value() == "sk-primary"
    assert (
        embedding.portkey_api_key is not None and embedding.portkey_api_key.get_secret_value() == "pk-portkey"
    )
    first, second = embedding.fallback_targets
    assert (first.provider, first.custom_host, first.model) == (
        "openai",
        "https://api.openai.com/v1",
        "text-embedding-3-small",
    )
    assert first.api_key is not None and first.api_key.get_secret_value() == "sk-fallback"
    assert (second.provider, second.custom_host, second.api_key, second.model) == (
        "cohere",
        "http://cohere-compat.models:8080",
        None,
        None,
    )
    assert settings.consistency.repair is True


def test_query_settings_carry_the_auth_key_and_top_k(clean_faro_environment: pytest.MonkeyPatch) -> None:
    spec = full_pipeline_spec()
    settings = _settings_of(_pod(Component.QUERY, spec), _configmap(spec), clean_faro_environment)
    assert settings.auth.api_key is not None and settings.auth.api_key.get_secret_value() == "bearer-key"
    assert settings.query.default_top_k == 8
    assert settings.embedding.api_key is not None
    assert len(settings.embedding.fallback_targets) == 2


def test_chunker_settings_have_only_the_dsn(clean_faro_environment: pytest.MonkeyPatch) -> None:
    spec = full_pipeline_spec()
    settings = _settings_of(_pod(Component.CHUNKER, spec), _configmap(spec), clean_faro_environment)
    settings.require("s3")
    # documents' states are read from PostgreSQL (read-only sessions): the chunker is given the DSN
    assert "dsn" in settings.postgres.model_fields_set
    assert settings.postgres.dsn.get_secret_value() == SECRET_VALUES[("pg", "dsn")]
    assert settings.qdrant.api_key is None
    assert settings.embedding.api_key is None and settings.embedding.portkey_api_key is None
    assert settings.auth.api_key is None
    assert settings.embedding.fallback_targets == []


def test_consistency_job_settings_load(clean_faro_environment: pytest.MonkeyPatch) -> None:
    spec = full_pipeline_spec()
    _settings_of(_pod(Component.CONSISTENCY, spec), _configmap(spec), clean_faro_environment)
    settings = load_settings()  # the job's own loading and checks
    assert settings.consistency.namespace == NAMESPACE
    assert (settings.consistency.sample_size, settings.consistency.k) == (200, 20)
    assert settings.consistency.min_overlap == pytest.approx(0.9)
    assert settings.consistency.pushgateway_url == "http://pushgateway.monitoring:9091"
    assert settings.postgres.dsn.get_secret_value() == SECRET_VALUES["pg", "dsn"]
    assert settings.pipeline == "docs-pipeline"


def test_minimal_spec_settings_load_for_every_component(clean_faro_environment: pytest.MonkeyPatch) -> None:
    spec = pipeline_spec()
    configmap = build_settings_configmap(
        PIPELINE, spec, resolved(collection_spec(qdrant={"apiKeySecretRef": None}))
    )
    for component in Component:
        with clean_faro_environment.context() as patch:
            settings = _settings_of(_pod(component, spec), configmap, patch)
            assert settings.s3 is not None and settings.s3.prefix == "faro"
            assert settings.embedding.fallback_targets == []


def test_a_fallback_key_with_quotes_and_backslashes_arrives_whole(
    clean_faro_environment: pytest.MonkeyPatch,
) -> None:
    """A key pasted into the JSON would break it; a key read from its file can hold any character."""
    key = 'sk-"quoted"\\back$(HOME)'
    spec = full_pipeline_spec()
    secrets = {**SECRET_VALUES, ("fallback", "key"): key}
    settings = _settings_of(_pod(Component.EMBEDDER, spec), _configmap(spec), clean_faro_environment, secrets)
    first = settings.embedding.fallback_targets[0]
    assert first.api_key is not None and first.api_key.get_secret_value() == key


def test_dollar_signs_in_fallback_targets_survive_expansion(
    clean_faro_environment: pytest.MonkeyPatch,
) -> None:
    spec = full_pipeline_spec(
        embedding={
            "fallbackTargets": [{"customHost": "http://models:8000/v1", "model": "m$(HOME)$x"}],
            "retryAttempts": 0,
        }
    )
    settings = _settings_of(_pod(Component.EMBEDDER, spec), _configmap(spec), clean_faro_environment)
    assert settings.embedding.fallback_targets[0].model == "m$(HOME)$x"


@pytest.mark.parametrize(
    ("component", "command_path"),
    [
        (Component.CHUNKER, ("serve", "chunker")),
        (Component.EMBEDDER, ("serve", "embedder")),
        (Component.QUERY, ("serve", "query")),
        (Component.CONSISTENCY, ("consistency",)),
    ],
)
def test_cli_accepts_the_rendered_arguments(component: Component, command_path: tuple[str, ...]) -> None:
    (container,) = _pod(component, full_pipeline_spec())["containers"]
    args = container["args"]
    assert tuple(args[: len(command_path)]) == command_path
    command = cli
    for name in command_path:
        command = command.commands[name]  # type: ignore[attr-defined]
    context = command.make_context(command_path[-1], args[len(command_path) :])  # parses, does not run
    if component is Component.EMBEDDER:
        assert (context.params["port"], context.params["shutdown_grace"]) == (9090, 45)
    elif component is not Component.CONSISTENCY:
        assert (context.params["host"], context.params["port"]) == ("0.0.0.0", 8080)


def test_a_bucket_source_reaches_the_embedder_and_the_consistency_job(
    clean_faro_environment: pytest.MonkeyPatch,
) -> None:
    documents = {
        "prefix": "raw/docs",
        "include": ["*.md", "guides/*"],
        "exclude": ["drafts/*"],
        "sync": False,
    }
    spec = pipeline_spec(source={"documents": documents})
    settings = _settings_of(_pod(Component.EMBEDDER, spec), _configmap(spec), clean_faro_environment)
    source = settings.source_documents
    assert source is not None
    assert (source.bucket, source.prefix, source.include, source.exclude, source.sync) == (
        None,
        "raw/docs",
        ["*.md", "guides/*"],
        ["drafts/*"],
        False,
    )
    assert _settings_of(_pod(Component.CONSISTENCY, spec), _configmap(spec), clean_faro_environment)


@pytest.mark.parametrize("prefix", ["/raw", "raw/", "", "raw docs"])
def test_a_bucket_source_prefix_is_refused_with_its_field(prefix: str) -> None:
    with pytest.raises(ValueError, match=r"source\.documents\.prefix"):
        pipeline_spec(source={"documents": {"prefix": prefix}})
