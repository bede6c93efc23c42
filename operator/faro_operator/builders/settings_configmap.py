"""The pipeline's settings ConfigMap: every non-secret ``FARO_*`` variable its workloads read.

The names come from :class:`faro_workloads.contract.settings.FaroSettings` itself
(:func:`~faro_workloads.contract.settings_env.settings_environment`: prefix ``FARO_``, ``__`` between nested
fields), so the ConfigMap cannot name a setting the services do not have. Secrets (DSN, API keys) never
go here: the pods read them from files of a Secret volume (:mod:`faro_operator.builders.component_env`),
and the embedding fallback targets (a variable of their own) name their keys' files.
"""

from __future__ import annotations

import hashlib
import json

from faro_operator.builders.components import SETTINGS, settings_configmap_name
from faro_operator.builders.golden_queries import golden_queries_path
from faro_operator.builders.labels import object_meta
from faro_operator.builders.owner import Manifest, Owner
from faro_operator.builders.resolved_collection import ResolvedCollection
from faro_operator.specs import RagPipelineSpec
from faro_workloads.contract.access import pipeline_audience
from faro_workloads.contract.api import qualified_key
from faro_workloads.contract.settings_env import settings_environment

CHECKSUM_ANNOTATION = qualified_key("config-checksum")
SECRETS_ANNOTATION = qualified_key("secrets-checksum")


def settings_data(owner: Owner, spec: RagPipelineSpec, collection: ResolvedCollection) -> dict[str, str]:
    """The ``FARO_*`` variables of pipeline ``owner``, named from the settings model (an unknown name fails
    here); optional settings that are unset are left out."""
    name = owner.name
    source, chunking, embedding, consistency = spec.source, spec.chunking, spec.embedding, spec.consistency
    return settings_environment(
        {
            "pipeline": name,
            "collection": {
                "name": collection.collection_name,
                "dimension": collection.dimension,
                "distance": collection.distance.value,
            },
            "hnsw": collection.hnsw,
            "postgres": {"schema_name": collection.postgres_schema},
            "qdrant": {"url": collection.qdrant_url, **collection.qdrant_layout},
            "s3": {
                "bucket": source.bucket,
                "prefix": source.prefix,
                "region": source.region,
                "endpoint_url": source.endpoint_url,
            },
            "sqs": {
                "queue_url": source.queue_url,
                "dead_letter_queue_url": source.dead_letter_queue_url,
                "max_receives": source.max_receives,
                "region": source.region,
                "endpoint_url": source.endpoint_url,
            },
            "source_documents": source.documents.model_dump() if source.documents is not None else None,
            "chunking": {
                "strategy": chunking.strategy,
                "size": chunking.size,
                "overlap": chunking.overlap,
                "context": chunking.context,
                "semantic_percentile": chunking.semantic_percentile,
            },
            "embedding": {
                "kind": "portkey",
                "gateway_url": embedding.gateway_url,
                "provider": embedding.provider,
                "custom_host": embedding.custom_host,
                "model": embedding.model,
                "dimension": embedding.dimension,
                "batch_size": embedding.batch_size,
                "gateway_retry_attempts": embedding.retry_attempts,
            },
            "auth": {
                # Closed unless the spec opens it: the workloads' own default (open, with a warning) is
                # for `faro serve` by hand.
                "anonymous": spec.access.anonymous,
                "rate_limit": rate_limit.model_dump() if (rate_limit := spec.access.rate_limit) else None,
                "service_accounts": (
                    {
                        "audience": pipeline_audience(owner.namespace, owner.name),
                        "namespace": owner.namespace,
                        "tenants": spec.access.tenant_users(owner.namespace) or None,
                    }
                    if spec.access.accepts_service_accounts
                    else None
                ),
            },
            "query": {
                "default_top_k": spec.query.top_k_default,
                "default_mode": spec.query.mode.value,
                "lexical_weight": spec.query.lexical_weight,
            },
            "consistency": {
                "sample_size": consistency.sample_size,
                "k": consistency.k,
                "min_overlap": consistency.min_overlap,
                "repair": consistency.repair,
                "pushgateway_url": consistency.pushgateway_url,
                "census": consistency.census,
                "census_grace_seconds": consistency.census_grace_seconds,
                "max_orphan_deletes": consistency.max_orphan_deletes,
            },
            "generations": {
                "cutover": spec.generations.cutover,
                "retain": spec.generations.retain_generations,
                "min_overlap": spec.generations.min_overlap,
                "golden_queries": golden_queries_path(spec),
                "recall_k": spec.generations.recall_k,
                "max_recall_drop": spec.generations.max_recall_drop,
            },
        }
    )


def build_settings_configmap(owner: Owner, spec: RagPipelineSpec, collection: ResolvedCollection) -> Manifest:
    """The ConfigMap ``<pipeline>-settings`` that every pipeline pod takes with ``envFrom``."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(owner, settings_configmap_name(owner.name), SETTINGS),
        "data": settings_data(owner, spec, collection),
    }


def settings_checksum(configmap: Manifest) -> str:
    """SHA-256 of a ConfigMap's data (keys sorted): the pod-template annotation that rolls the pods on change.

    Only ``data`` counts, so it changes exactly when a setting does; the Secrets the pods read at start
    have an annotation of their own (``faro.dev/secrets-checksum``, from their versions).
    """
    data = configmap.get("data") or {}
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
