"""The pipeline's settings ConfigMap: every non-secret ``FARO_*`` variable its workloads read.

The names follow :class:`faro_workloads.core.config.FaroSettings` (prefix ``FARO_``, ``__`` between
nested fields). Secrets (DSN, API keys) never go here: the pods get them with ``secretKeyRef``
(:mod:`faro_operator.builders.component_env`), and so do the embedding fallback targets, whose JSON may
carry API keys.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from faro_operator.builders.components import SETTINGS, settings_configmap_name
from faro_operator.builders.labels import object_meta
from faro_operator.builders.owner import Manifest, Owner
from faro_operator.builders.resolved_collection import ResolvedCollection
from faro_operator.specs import RagPipelineSpec
from faro_workloads.contract.api import qualified_key

CHECKSUM_ANNOTATION = qualified_key("config-checksum")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def settings_data(name: str, spec: RagPipelineSpec, collection: ResolvedCollection) -> dict[str, str]:
    """The ``FARO_*`` variables of pipeline ``name``; optional settings that are unset are left out."""
    source, chunking, embedding, consistency = spec.source, spec.chunking, spec.embedding, spec.consistency
    values: dict[str, Any] = {
        "FARO_PIPELINE": name,
        "FARO_COLLECTION__NAME": collection.collection_name,
        "FARO_COLLECTION__DIMENSION": collection.dimension,
        "FARO_COLLECTION__DISTANCE": collection.distance.value,
        "FARO_POSTGRES__SCHEMA_NAME": collection.postgres_schema,
        "FARO_QDRANT__URL": collection.qdrant_url,
        "FARO_S3__BUCKET": source.bucket,
        "FARO_S3__PREFIX": source.prefix,
        "FARO_S3__REGION": source.region,
        "FARO_S3__ENDPOINT_URL": source.endpoint_url,
        "FARO_SQS__QUEUE_URL": source.queue_url,
        "FARO_SQS__DEAD_LETTER_QUEUE_URL": source.dead_letter_queue_url,
        "FARO_SQS__MAX_RECEIVES": source.max_receives,
        "FARO_SQS__REGION": source.region,
        "FARO_SQS__ENDPOINT_URL": source.endpoint_url,
        "FARO_CHUNKING__STRATEGY": chunking.strategy,
        "FARO_CHUNKING__SIZE": chunking.size,
        "FARO_CHUNKING__OVERLAP": chunking.overlap,
        "FARO_EMBEDDING__KIND": "portkey",
        "FARO_EMBEDDING__GATEWAY_URL": embedding.gateway_url,
        "FARO_EMBEDDING__PROVIDER": embedding.provider,
        "FARO_EMBEDDING__CUSTOM_HOST": embedding.custom_host,
        "FARO_EMBEDDING__MODEL": embedding.model,
        "FARO_EMBEDDING__DIMENSION": embedding.dimension,
        "FARO_EMBEDDING__BATCH_SIZE": embedding.batch_size,
        "FARO_EMBEDDING__GATEWAY_RETRY_ATTEMPTS": embedding.retry_attempts,
        "FARO_QUERY__DEFAULT_TOP_K": spec.query.top_k_default,
        "FARO_CONSISTENCY__SAMPLE_SIZE": consistency.sample_size,
        "FARO_CONSISTENCY__K": consistency.k,
        "FARO_CONSISTENCY__MIN_OVERLAP": consistency.min_overlap,
        "FARO_CONSISTENCY__REPAIR": consistency.repair,
        "FARO_CONSISTENCY__PUSHGATEWAY_URL": consistency.pushgateway_url,
    }
    return {key: _text(value) for key, value in sorted(values.items()) if value is not None}


def build_settings_configmap(owner: Owner, spec: RagPipelineSpec, collection: ResolvedCollection) -> Manifest:
    """The ConfigMap ``<pipeline>-settings`` that every pipeline pod takes with ``envFrom``."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(owner, settings_configmap_name(owner.name), SETTINGS),
        "data": settings_data(owner.name, spec, collection),
    }


def settings_checksum(configmap: Manifest) -> str:
    """SHA-256 of a ConfigMap's data (keys sorted): the pod-template annotation that rolls the pods on change.

    Only ``data`` counts, so it changes exactly when a setting does; the values of referenced Secrets do
    not count (pods see rotated secrets after their next restart).
    """
    data = configmap.get("data") or {}
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
