"""What every handler needs, created once per operator run and handed to handlers through kopf's memo."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from kubernetes.client import ApiClient, AppsV1Api, CoreV1Api

from faro_operator.apply import ChildApplier
from faro_operator.collection_stores import SecretReader
from faro_operator.discovery import ServedKinds, discover_served_kinds
from faro_workloads.core.stores.ports import StoreAdminOpener

DISCOVERY_TTL_SECONDS = 300.0


@dataclass
class OperatorContext:
    api: ApiClient
    store_connector: StoreAdminOpener
    _served: ServedKinds | None = None
    _served_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.applier = ChildApplier(self.api)
        self.core = CoreV1Api(self.api)
        self.apps = AppsV1Api(self.api)
        self.secrets = SecretReader(self.core)

    def served_kinds(self) -> ServedKinds:
        """API discovery, cached for a few minutes (a Prometheus Operator installed later is picked up)."""
        with self._lock:
            if self._served is None or time.monotonic() - self._served_at > DISCOVERY_TTL_SECONDS:
                self._served = discover_served_kinds(self.api)
                self._served_at = time.monotonic()
            return self._served
