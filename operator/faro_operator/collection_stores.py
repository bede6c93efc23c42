"""From a Collection resource to the configs of its two stores, which a
:class:`~faro_workloads.core.stores.ports.StoreAdminOpener` (handed to the operator when it starts) opens.

The operator prepares both stores (pgvector table + HNSW index, Qdrant collection), counts their points and,
with ``deletionPolicy: Delete``, drops them. It reaches an external Qdrant at its address directly (the bridge
Service is for the workloads' DNS); secrets are read from the Collection's namespace.
"""

from __future__ import annotations

import base64

from kubernetes.client import CoreV1Api
from kubernetes.client.exceptions import ApiException
from pydantic import SecretStr

from faro_operator.builders.resolved_collection import (
    index_parameters,
    qdrant_layout,
    resolved_collection_name,
)
from faro_operator.specs import CollectionSpec, SecretKeyRef
from faro_workloads.contract.settings import CollectionConfig, HnswConfig, PostgresConfig, QdrantConfig
from faro_workloads.core.stores.ports import StoreConfigs


class MissingSecret(LookupError):
    """A referenced Secret or key does not exist (yet)."""


class SecretReader:
    """Reads keys of Secrets in a namespace."""

    def __init__(self, core: CoreV1Api) -> None:
        self._core = core

    def version(self, namespace: str, name: str) -> str | None:
        """The resourceVersion of Secret ``name`` (None when it does not exist)."""
        try:
            return self._core.read_namespaced_secret(name, namespace).metadata.resource_version
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def value(self, namespace: str, ref: SecretKeyRef) -> str:
        try:
            secret = self._core.read_namespaced_secret(ref.name, namespace)
        except ApiException as exc:
            if exc.status == 404:
                raise MissingSecret(f"Secret {namespace}/{ref.name} does not exist") from exc
            raise
        data = secret.data or {}
        if ref.key not in data:
            raise MissingSecret(f"Secret {namespace}/{ref.name} has no key {ref.key!r}")
        return base64.b64decode(data[ref.key]).decode("utf-8").strip()


def operator_qdrant_url(spec: CollectionSpec) -> str:
    """How the operator itself reaches Qdrant."""
    if spec.qdrant.url:
        return spec.qdrant.url
    assert spec.qdrant.external is not None
    return f"http://{spec.qdrant.external.address}:{spec.qdrant.external.http_port}"


def store_configs(name: str, namespace: str, spec: CollectionSpec, secrets: SecretReader) -> StoreConfigs:
    dsn = secrets.value(namespace, spec.postgres.dsn_secret_ref)
    api_key = (
        secrets.value(namespace, spec.qdrant.api_key_secret_ref) if spec.qdrant.api_key_secret_ref else None
    )
    return StoreConfigs(
        collection=CollectionConfig(
            name=resolved_collection_name(name, spec), dimension=spec.dimension, distance=spec.distance
        ),
        postgres=PostgresConfig(
            dsn=SecretStr(dsn), schema_name=spec.postgres.schema_name, pool_size=2, connect_timeout_seconds=5
        ),
        qdrant=QdrantConfig(
            url=operator_qdrant_url(spec),
            api_key=SecretStr(api_key) if api_key else None,
            timeout_seconds=5,
            **qdrant_layout(spec),
        ),
        hnsw=HnswConfig(**index_parameters(spec)),
    )
