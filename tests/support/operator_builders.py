"""Shared inputs and checks of the operator builder tests (the ``test_builders_*`` modules; no tests).

- ``collection_spec()`` / ``pipeline_spec()``: realistic specs from camelCase YAML-like dicts, with deep
  overrides; ``full_pipeline_spec()`` sets every optional field (all secrets, fallback targets, endpoints).
- ``PIPELINE`` / ``COLLECTION``: owners; ``resolved()``: the Collection as the pipeline builders see it.
- ``validate_strict()``: the manifest against Kubernetes 1.34's strict JSON schema (unknown fields fail).
- ``assert_service_monitor_shape()``: ServiceMonitor is a CRD kind kubernetes-validate has no schema for, so
  its structure is checked explicitly.
- ``container_environment()``: the environment the kubelet would give a container, from the settings
  ConfigMap, its ``env`` (the downward API, ``$(VAR)`` expansion); ``pod_environment()`` also writes the
  pod's secret files (values taken from a dict) to a local folder, as the kubelet would mount them.
- ``shared_objects()``: dicts/lists appearing twice in a manifest (YAML would render them as aliases).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import kubernetes_validate

from faro_operator.builders import Manifest, Owner, ResolvedCollection, resolve_collection
from faro_operator.specs import CollectionSpec, RagPipelineSpec

KUBERNETES_VERSION = "1.34"
NAMESPACE = "team-a"
PIPELINE = Owner.pipeline("docs-pipeline", NAMESPACE, "0d8a5c2e-0000-4000-8000-000000000001")
COLLECTION = Owner.collection("docs", NAMESPACE, "0d8a5c2e-0000-4000-8000-000000000002")

SECRET_VALUES = {
    ("pg", "dsn"): "postgresql://faro:pw@db.internal:5432/faro",
    ("pg", "read-dsn"): "postgresql://faro:pw@db-replica.internal:5432/faro",
    ("qdrant", "api-key"): "qdrant-key",
    ("openai", "key"): "sk-primary",
    ("portkey", "key"): "pk-portkey",
    ("fallback", "key"): "sk-fallback",
    ("query-auth", "key"): "bearer-key",
}


def _merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def collection_spec(**overrides: Any) -> CollectionSpec:
    """A Collection with an external Qdrant at an IPv4 address, with an API key; ``overrides`` merge in."""
    base = {
        "dimension": 1536,
        "distance": "dot",
        "qdrant": {
            "external": {"address": "10.20.30.40"},
            "apiKeySecretRef": {"name": "qdrant", "key": "api-key"},
        },
        "postgres": {"dsnSecretRef": {"name": "pg", "key": "dsn"}, "schema": "rag", "indexBuildWorkers": 4},
    }
    return CollectionSpec.model_validate(_merge(base, overrides))


def pipeline_spec(**overrides: Any) -> RagPipelineSpec:
    """A RagPipeline with the required fields only (dimension 1536); ``overrides`` merge in."""
    base = {
        "collectionRef": {"name": "docs"},
        "source": {
            "bucket": "faro-docs",
            "queueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/faro",
        },
        "embedding": {
            "gatewayUrl": "http://portkey:8787/v1",
            "model": "text-embedding-3-small",
            "dimension": 1536,
        },
    }
    return RagPipelineSpec.model_validate(_merge(base, overrides))


def full_pipeline_spec(**overrides: Any) -> RagPipelineSpec:
    """A RagPipeline with every optional field set: secrets, fallback targets, endpoints, IAM roles."""
    full = {
        "source": {
            "prefix": "kb",
            "deadLetterQueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/faro-dlq",
            "region": "eu-west-1",
            "endpointUrl": "http://minio.storage:9000",
            "maxReceives": 7,
        },
        "chunking": {"strategy": "markdown", "size": 400, "overlap": 40},
        "embedding": {
            "provider": "openai",
            "customHost": "http://vllm.models:8000/v1",
            "batchSize": 32,
            "apiKeySecretRef": {"name": "openai", "key": "key"},
            "portkeyApiKeySecretRef": {"name": "portkey", "key": "key"},
            "fallbackTargets": [
                {
                    "provider": "openai",
                    "customHost": "https://api.openai.com/v1",
                    "model": "text-embedding-3-small",
                    "apiKeySecretRef": {"name": "fallback", "key": "key"},
                },
                {"provider": "cohere", "customHost": "http://cohere-compat.models:8080"},
            ],
            "retryAttempts": 2,
        },
        "chunker": {"replicas": 2, "serviceAccountRoleArn": "arn:aws:iam::123456789012:role/faro-chunker"},
        "embedder": {"replicas": 3, "serviceAccountRoleArn": "arn:aws:iam::123456789012:role/faro-embedder"},
        "queryService": {
            "image": {"repository": "registry.local/faro", "tag": "dev", "pullPolicy": "Always"}
        },
        "query": {
            "topKDefault": 8,
            "mode": "dense",
            "lexicalWeight": 0.5,
            "authSecretRef": {"name": "query-auth", "key": "key"},
        },
        "consistency": {
            "schedule": "0 * * * *",
            "sampleSize": 200,
            "k": 20,
            "minOverlap": 0.9,
            "repair": True,
            "pushgatewayUrl": "http://pushgateway.monitoring:9091",
            "serviceAccountRoleArn": "arn:aws:iam::123456789012:role/faro-consistency",
        },
        "generations": {
            "cutover": "Manual",
            "retainGenerations": 2,
            "minOverlap": 0.9,
            "goldenQueries": {"configMap": "docs-golden"},
            "recallK": 5,
            "maxRecallDrop": 0.02,
        },
        "monitoring": {"labels": {"release": "kube-prometheus-stack"}},
    }
    return pipeline_spec(**_merge(full, overrides))


def resolved(spec: CollectionSpec | None = None, owner: Owner = COLLECTION) -> ResolvedCollection:
    """The Collection ``spec`` (default :func:`collection_spec`) resolved for the pipeline builders."""
    return resolve_collection(owner.name, owner.namespace, spec or collection_spec())


def validate_strict(manifest: Manifest) -> None:
    """Fail unless ``manifest`` is valid for Kubernetes 1.34 with unknown fields forbidden."""
    kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def assert_service_monitor_shape(manifest: Manifest) -> None:
    """The parts of a ``monitoring.coreos.com/v1`` ServiceMonitor the Prometheus Operator needs."""
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
    assert manifest["kind"] == "ServiceMonitor"
    assert set(manifest) == {"apiVersion", "kind", "metadata", "spec"}
    spec = manifest["spec"]
    assert set(spec) <= {"selector", "namespaceSelector", "endpoints", "jobLabel"}
    assert isinstance(spec["selector"]["matchLabels"], dict) and spec["selector"]["matchLabels"]
    assert all(isinstance(v, str) for v in spec["selector"]["matchLabels"].values())
    assert spec["endpoints"]
    for endpoint in spec["endpoints"]:
        assert set(endpoint) <= {"port", "path", "interval", "authorization", "relabelings"}
        assert isinstance(endpoint["port"], str) and endpoint["port"]
        for relabeling in endpoint.get("relabelings", []):
            assert set(relabeling) <= {"action", "sourceLabels", "targetLabel", "regex", "replacement"}
            assert relabeling["action"] in {"replace", "keep", "drop", "labelmap"}
            assert all(re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", label) for label in relabeling["sourceLabels"])
        assert endpoint["path"].startswith("/")
        if "authorization" in endpoint:
            assert endpoint["authorization"]["type"] == "Bearer"
            assert set(endpoint["authorization"]["credentials"]) == {"name", "key"}


_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def _expand(value: str, defined: dict[str, str]) -> str:
    """The kubelet's ``$(VAR)`` expansion: ``$$`` is a literal ``$``, unknown references stay as written."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return defined.get(match.group(1), match.group(0))

    return _REFERENCE.sub(replace, value)


def container_environment(
    container: dict[str, Any],
    configmaps: dict[str, dict[str, str]],
    namespace: str = NAMESPACE,
    mounted: dict[str, str] | None = None,
) -> dict[str, str]:
    """The variables the kubelet would give ``container``: ``envFrom`` ConfigMaps (by name), then ``env``;
    a value naming a mount path of ``mounted`` names the local folder standing for it instead."""
    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        environment.update(configmaps[source["configMapRef"]["name"]])
    for entry in container.get("env", []):
        if "value" in entry:
            value = _expand(entry["value"], environment)
            environment[entry["name"]] = (mounted or {}).get(value, value)
        elif entry["valueFrom"].get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            environment[entry["name"]] = namespace
        else:  # a Secret's value is never an environment variable: it is a file
            raise AssertionError(f"unexpected env source {entry['valueFrom']}")
    return environment


def write_secret_files(
    pod: dict[str, Any], folder: Path, secrets: dict[tuple[str, str], str] | None = None
) -> dict[str, str]:
    """Write the files the kubelet would project into ``pod``'s container from its Secret volumes, each
    mount in a folder of its own under ``folder``: ``{mount path: local folder}``. A missing Secret key
    fails, as the pod would not start."""
    secrets = SECRET_VALUES if secrets is None else secrets
    (container,) = pod["containers"]
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    mounted: dict[str, str] = {}
    for mount in container.get("volumeMounts", []):
        projected = volumes[mount["name"]].get("projected")
        if projected is None:
            continue
        local = folder / mount["name"]
        local.mkdir(parents=True)
        for path, key in projected_files(projected).items():
            (local / path).write_text(secrets[key])
        mounted[mount["mountPath"]] = str(local)
    return mounted


def pod_environment(
    pod: dict[str, Any],
    configmaps: dict[str, dict[str, str]],
    folder: Path,
    secrets: dict[tuple[str, str], str] | None = None,
    namespace: str = NAMESPACE,
) -> dict[str, str]:
    """What the pod's container starts with: its variables and, written under ``folder``, its secret files."""
    mounted = write_secret_files(pod, folder, secrets)
    (container,) = pod["containers"]
    return container_environment(container, configmaps, namespace, mounted)


def shared_objects(manifest: Any) -> list[Any]:
    """Dicts and lists that occur more than once inside ``manifest`` (by identity)."""
    seen: set[int] = set()
    shared: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict | list):
            if id(node) in seen:
                shared.append(node)
                return
            seen.add(id(node))
            for child in node.values() if isinstance(node, dict) else node:
                walk(child)

    walk(manifest)
    return shared


def pod_spec(manifest: Manifest) -> dict[str, Any]:
    """The pod spec of a Deployment or CronJob."""
    if manifest["kind"] == "CronJob":
        return manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return manifest["spec"]["template"]["spec"]


def only_container(manifest: Manifest) -> dict[str, Any]:
    """The one container of a Deployment's or CronJob's pod (fails if there are more)."""
    (container,) = pod_spec(manifest)["containers"]
    return container


def projected_files(projected: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """The files of a projected Secret volume: ``{file: (Secret, key)}``."""
    return {
        item["path"]: (source["secret"]["name"], item["key"])
        for source in projected["sources"]
        for item in source["secret"]["items"]
    }


def secret_files(manifest: Manifest) -> dict[str, tuple[str, str]]:
    """The files of a workload's secret volume: ``{file: (Secret, key)}``."""
    files: dict[str, tuple[str, str]] = {}
    for volume in pod_spec(manifest)["volumes"]:
        files |= projected_files(volume["projected"]) if "projected" in volume else {}
    return files
