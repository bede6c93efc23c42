"""The operator as its integration tests run it: kopf in-process on a real kube-apiserver, with the real store
adapters (PostgreSQL at the Secret's DSN, Qdrant in local mode), and small helpers to read what it wrote.
The fixtures that start it live in ``tests/integration/operator/conftest.py``."""

from __future__ import annotations

import copy
import threading
from pathlib import Path

from kubernetes import client

from faro_operator import GROUP, VERSION
from faro_operator.collection_stores import StoreConfigs
from faro_workloads.contract.settings import QdrantConfig
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.qdrant import QdrantStore

RESYNC_SECONDS = 2.0
"""How often the operator under test resyncs (short, so drift is restored within a test)."""
QDRANT_URL = "http://qdrant.faro-test.svc:6333"
"""The Qdrant URL the test Collections name; :class:`LocalStoreConnector` maps it to a local folder."""


class LocalQdrant(QdrantStore):
    """A local-mode QdrantStore shared by every reconcile (local mode allows one client per folder)."""

    def close(self) -> None:  # the connector closes it at the end of the test
        pass

    def really_close(self) -> None:
        super().close()


class LocalStoreConnector:
    """Opens the real adapters: PostgreSQL at the Secret's DSN, Qdrant URLs mapped to local-mode folders."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._qdrants: dict[tuple[str, str], LocalQdrant] = {}
        self._lock = threading.Lock()

    def open(self, configs: StoreConfigs) -> tuple[PgVectorStore, QdrantStore]:
        key = (configs.qdrant.url or "", configs.collection.name)
        with self._lock:
            if key not in self._qdrants:
                path = self._folder / f"qdrant-{len(self._qdrants)}"
                self._qdrants[key] = LocalQdrant(
                    QdrantConfig(path=str(path)), configs.collection, configs.hnsw
                )
            qdrant = self._qdrants[key]
        return PgVectorStore(configs.postgres, configs.collection, configs.hnsw), qdrant

    def qdrant(self, collection_name: str) -> LocalQdrant | None:
        return next((q for (_, name), q in self._qdrants.items() if name == collection_name), None)

    def close(self) -> None:
        for store in self._qdrants.values():
            store.really_close()


def custom(api, namespace: str, plural: str):  # type: ignore[no-untyped-def]
    objects = client.CustomObjectsApi(api)

    class Resource:
        def create(self, body: dict) -> dict:
            return objects.create_namespaced_custom_object(
                GROUP, VERSION, namespace, plural, copy.deepcopy(body)
            )

        def get(self, name: str) -> dict:
            return objects.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)

        def patch(self, name: str, body: dict) -> dict:
            return objects.patch_namespaced_custom_object(GROUP, VERSION, namespace, plural, name, body)

        def delete(self, name: str) -> None:
            objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)

    return Resource()


def condition(resource: dict, kind: str) -> dict | None:
    return next((c for c in (resource.get("status") or {}).get("conditions", []) if c["type"] == kind), None)
