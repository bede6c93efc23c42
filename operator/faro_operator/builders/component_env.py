"""The secrets each component gets, as files of one read-only volume, and the ``env`` that goes with them.

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

The Secrets' keys are projected into one volume mounted at :data:`SECRETS_DIR`, each as a file named like
the setting's variable (``FARO_POSTGRES__DSN``); ``FARO_SECRETS_DIR`` tells the workloads' settings to read
them (:mod:`faro_workloads.contract.secret_files`). No value is in the pod's environment, where every
process of the container could read it from ``/proc``. Embedding fallback targets
(``FARO_EMBEDDING__FALLBACK_TARGETS``, a JSON list, a plain variable) name their keys' files
(``api_key_file``: ``FALLBACK_TARGET_<i>_API_KEY`` in the same folder), so a key may hold any character.
Literal ``$`` in the JSON are written ``$$``: the kubelet expands ``$(NAME)`` in every variable's value.
"""

from __future__ import annotations

import json
from typing import Any

from faro_operator.builders.components import Component
from faro_operator.builders.resolved_collection import ResolvedCollection
from faro_operator.specs import RagPipelineSpec, SecretKeyRef
from faro_workloads.contract.secret_files import SECRETS_DIR_VARIABLE

POSTGRES_DSN = "FARO_POSTGRES__DSN"
POSTGRES_READ_DSN = "FARO_POSTGRES__READ_DSN"
QDRANT_API_KEY = "FARO_QDRANT__API_KEY"
EMBEDDING_API_KEY = "FARO_EMBEDDING__API_KEY"
PORTKEY_API_KEY = "FARO_EMBEDDING__PORTKEY_API_KEY"
AUTH_API_KEY = "FARO_AUTH__API_KEY"
FALLBACK_TARGETS = "FARO_EMBEDDING__FALLBACK_TARGETS"
SECRETS_VOLUME = "secrets"
SECRETS_DIR = "/etc/faro/secrets"
SECRET_FILE_MODE = 0o440
"""Readable by the pod's user and group (``fsGroup``) only."""

SecretFiles = list[tuple[str, SecretKeyRef]]
"""(file name, the Secret key it holds), in the order the component's settings list them."""


def fallback_key_file(index: int) -> str:
    """The file holding fallback target ``index``'s API key (not a ``FARO_`` setting itself)."""
    return f"FALLBACK_TARGET_{index}_API_KEY"


def _store_files(collection: ResolvedCollection) -> SecretFiles:
    files = [(POSTGRES_DSN, collection.postgres_dsn)]
    if collection.qdrant_api_key is not None:
        files.append((QDRANT_API_KEY, collection.qdrant_api_key))
    return files


def _embedding_files(spec: RagPipelineSpec) -> SecretFiles:
    embedding = spec.embedding
    files: SecretFiles = []
    if embedding.api_key_secret_ref is not None:
        files.append((EMBEDDING_API_KEY, embedding.api_key_secret_ref))
    if embedding.portkey_api_key_secret_ref is not None:
        files.append((PORTKEY_API_KEY, embedding.portkey_api_key_secret_ref))
    files += [
        (fallback_key_file(index), target.api_key_secret_ref)
        for index, target in enumerate(embedding.fallback_targets)
        if target.api_key_secret_ref is not None
    ]
    return files


def _embeds(component: Component, spec: RagPipelineSpec) -> bool:
    """Whether ``component`` calls the embedding model (the chunker only to cut semantically)."""
    if component is Component.CHUNKER:
        return spec.chunking.strategy == "semantic"
    return component in (Component.EMBEDDER, Component.QUERY)


def component_secret_files(
    component: Component, spec: RagPipelineSpec, collection: ResolvedCollection
) -> SecretFiles:
    """The secret files ``component`` needs, and no others."""
    chunker = component is Component.CHUNKER  # reads documents' states, never stored vectors
    files = [(POSTGRES_DSN, collection.postgres_dsn)] if chunker else _store_files(collection)
    if _embeds(component, spec):
        files += _embedding_files(spec)
    if component is Component.QUERY and collection.postgres_read_dsn is not None:
        files.append((POSTGRES_READ_DSN, collection.postgres_read_dsn))
    if component is Component.QUERY and spec.query.auth_secret_ref is not None:
        files.append((AUTH_API_KEY, spec.query.auth_secret_ref))
    return files


def _fallback_targets(spec: RagPipelineSpec) -> str:
    targets: list[dict[str, str]] = []
    for index, target in enumerate(spec.embedding.fallback_targets):
        rendered = {"provider": target.provider, "custom_host": target.custom_host.replace("$", "$$")}
        if target.model is not None:
            rendered["model"] = target.model.replace("$", "$$")
        if target.api_key_secret_ref is not None:
            rendered["api_key_file"] = fallback_key_file(index)
        targets.append(rendered)
    return json.dumps(targets, separators=(",", ":"))


def component_env(component: Component, spec: RagPipelineSpec) -> list[dict[str, Any]]:
    """The ``env`` entries ``component`` needs beside its secret files: the fallback targets, naming their
    keys' files."""
    if _embeds(component, spec) and spec.embedding.fallback_targets:
        return [{"name": FALLBACK_TARGETS, "value": _fallback_targets(spec)}]
    return []


def secrets_mount(
    component: Component, spec: RagPipelineSpec, collection: ResolvedCollection
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]] | None:
    """The (volume, volumeMount, env) of ``component``'s secret files, or None when it needs none: one
    projected volume, a source per Secret, and ``FARO_SECRETS_DIR`` naming where it is mounted. No
    ``optional``: a missing Secret or key keeps the pod from starting."""
    by_secret: dict[str, list[dict[str, str]]] = {}
    for file, ref in component_secret_files(component, spec, collection):
        by_secret.setdefault(ref.name, []).append({"key": ref.key, "path": file})
    if not by_secret:
        return None
    sources = [{"secret": {"name": name, "items": items}} for name, items in by_secret.items()]
    volume = {"name": SECRETS_VOLUME, "projected": {"defaultMode": SECRET_FILE_MODE, "sources": sources}}
    mount = {"name": SECRETS_VOLUME, "mountPath": SECRETS_DIR, "readOnly": True}
    return volume, mount, [{"name": SECRETS_DIR_VARIABLE, "value": SECRETS_DIR}]


def volume_secrets(volumes: list[dict[str, Any]]) -> set[str]:
    """The names of the Secrets the secret-files volume among ``volumes`` projects."""
    return {
        source["secret"]["name"]
        for volume in volumes
        if volume["name"] == SECRETS_VOLUME
        for source in volume["projected"]["sources"]
    }


def referenced_secrets(spec: RagPipelineSpec, collection: ResolvedCollection) -> set[str]:
    """Every Secret the pipeline's Deployments read at start (their versions roll the pods)."""
    deployed = [Component.CHUNKER, Component.EMBEDDER] + ([Component.QUERY] if spec.query.enabled else [])
    return {ref.name for c in deployed for _, ref in component_secret_files(c, spec, collection)}
