"""The only place that writes child objects: server-side apply, idempotent and restoring drift.

Server-side apply with one field manager makes every reconcile converge: a child that was deleted is
created, a field edited by hand is set back, and applying an unchanged manifest changes nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.dynamic import DynamicClient

log = logging.getLogger(__name__)

FIELD_MANAGER = "faro-operator"


class ChildApplier:
    """Applies manifests of any served kind (resolved through API discovery)."""

    def __init__(self, api: ApiClient) -> None:
        self._dynamic = DynamicClient(api)

    def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        resource = self._dynamic.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
        metadata = manifest["metadata"]
        applied = resource.server_side_apply(
            body=manifest,
            name=metadata["name"],
            namespace=metadata.get("namespace"),
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
        )
        return applied.to_dict()
