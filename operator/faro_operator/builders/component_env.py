"""The ``env`` entries of each component beyond the settings ConfigMap: its secrets, least privilege.

| component   | Postgres DSN | Qdrant key | embedding keys + fallback targets | query auth key |
|-------------|--------------|------------|-----------------------------------|----------------|
| chunker     | x            |            | semantic strategy only            |                |
| embedder    | x            | x          | x                                 |                |
| query       | x (+ read)   | x          | x                                 | x              |
| consistency | x            | x          |                                   |                |

The chunker cuts documents into S3 objects and reads documents' states from PostgreSQL (in read-only
sessions); with the semantic strategy it also embeds sentences to find its cuts, through the same gateway
and keys as the embedder; the consistency job compares stored vectors and never embeds. The query service
also gets the Collection's read-only endpoint (``readDsnSecretRef``) when it has one. S3 and SQS
credentials come from the pods' IAM role (IRSA), not from variables.

Embedding fallback targets (``FARO_EMBEDDING__FALLBACK_TARGETS``, a JSON list) may each have an API key in
a Secret, and an environment variable cannot be partly taken from a Secret. So each target's key is first
loaded into its own variable ``FALLBACK_TARGET_<i>_API_KEY`` (ignored by the workloads' settings) and the
JSON refers to it as ``$(FALLBACK_TARGET_<i>_API_KEY)``, which the kubelet expands when it starts the
container (a reference resolves only to a variable defined *earlier* in ``env``, hence the order). The
limitation: the key is pasted into a JSON string verbatim, so a key containing ``"`` or ``\\`` makes the
setting invalid (the workload then fails at start with a readable error). Literal ``$`` in the JSON are
written ``$$`` so the kubelet leaves them alone.
"""

from __future__ import annotations

import json
from typing import Any

from faro_operator.builders.components import Component
from faro_operator.builders.resolved_collection import ResolvedCollection
from faro_operator.specs import RagPipelineSpec, SecretKeyRef

POSTGRES_DSN = "FARO_POSTGRES__DSN"
POSTGRES_READ_DSN = "FARO_POSTGRES__READ_DSN"
QDRANT_API_KEY = "FARO_QDRANT__API_KEY"
EMBEDDING_API_KEY = "FARO_EMBEDDING__API_KEY"
PORTKEY_API_KEY = "FARO_EMBEDDING__PORTKEY_API_KEY"
AUTH_API_KEY = "FARO_AUTH__API_KEY"
FALLBACK_TARGETS = "FARO_EMBEDDING__FALLBACK_TARGETS"


def fallback_key_variable(index: int) -> str:
    """The variable holding fallback target ``index``'s API key (not a ``FARO_`` setting itself)."""
    return f"FALLBACK_TARGET_{index}_API_KEY"


def secret_env(name: str, ref: SecretKeyRef) -> dict[str, Any]:
    """An ``env`` entry taking ``name`` from a Secret key (the pod does not start while it is missing)."""
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}}}


def _store_env(collection: ResolvedCollection) -> list[dict[str, Any]]:
    env = [secret_env(POSTGRES_DSN, collection.postgres_dsn)]
    if collection.qdrant_api_key is not None:
        env.append(secret_env(QDRANT_API_KEY, collection.qdrant_api_key))
    return env


def _embedding_env(spec: RagPipelineSpec) -> list[dict[str, Any]]:
    embedding = spec.embedding
    env: list[dict[str, Any]] = []
    if embedding.api_key_secret_ref is not None:
        env.append(secret_env(EMBEDDING_API_KEY, embedding.api_key_secret_ref))
    if embedding.portkey_api_key_secret_ref is not None:
        env.append(secret_env(PORTKEY_API_KEY, embedding.portkey_api_key_secret_ref))
    if not embedding.fallback_targets:
        return env
    targets: list[dict[str, str]] = []
    for index, target in enumerate(embedding.fallback_targets):
        rendered = {"provider": target.provider, "custom_host": target.custom_host.replace("$", "$$")}
        if target.model is not None:
            rendered["model"] = target.model.replace("$", "$$")
        if target.api_key_secret_ref is not None:
            env.append(secret_env(fallback_key_variable(index), target.api_key_secret_ref))
            rendered["api_key"] = f"$({fallback_key_variable(index)})"
        targets.append(rendered)
    env.append({"name": FALLBACK_TARGETS, "value": json.dumps(targets, separators=(",", ":"))})
    return env


def component_env(
    component: Component, spec: RagPipelineSpec, collection: ResolvedCollection
) -> list[dict[str, Any]]:
    """The secret (and secret-bearing) ``env`` entries ``component`` needs, and no others."""
    if component is Component.CHUNKER:
        env = [secret_env(POSTGRES_DSN, collection.postgres_dsn)]
        return env + _embedding_env(spec) if spec.chunking.strategy == "semantic" else env
    env = _store_env(collection)
    if component in (Component.EMBEDDER, Component.QUERY):
        env += _embedding_env(spec)
    if component is Component.QUERY and collection.postgres_read_dsn is not None:
        env.append(secret_env(POSTGRES_READ_DSN, collection.postgres_read_dsn))
    if component is Component.QUERY and spec.query.auth_secret_ref is not None:
        env.append(secret_env(AUTH_API_KEY, spec.query.auth_secret_ref))
    return env


def env_secrets(env: list[dict[str, Any]]) -> set[str]:
    """The names of the Secrets ``env`` takes values from."""
    return {
        entry["valueFrom"]["secretKeyRef"]["name"]
        for entry in env
        if "secretKeyRef" in entry.get("valueFrom", {})
    }


def referenced_secrets(spec: RagPipelineSpec, collection: ResolvedCollection) -> set[str]:
    """Every Secret the pipeline's Deployments take ``env`` from (their versions roll the pods)."""
    deployed = [Component.CHUNKER, Component.EMBEDDER] + ([Component.QUERY] if spec.query.enabled else [])
    return set().union(*(env_secrets(component_env(c, spec, collection)) for c in deployed))
