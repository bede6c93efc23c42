"""The only place that writes child objects: server-side apply, idempotent and restoring drift; and the
deletion of a child the resource no longer wants (an autoscaler that was switched off, the token-review
binding of a pipeline that stopped accepting tokens or was deleted).

Server-side apply with one field manager makes every reconcile converge: a child that was deleted is
created, a field edited by hand is set back, and applying an unchanged manifest changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError

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

    def delete_owned(self, api_version: str, kind: str, name: str, namespace: str, owner_uid: str) -> bool:
        """Delete ``kind`` ``name`` if it exists and ``owner_uid`` owns it (something a user made under the
        same name is left alone); whether it was deleted."""
        return self._delete_if(
            api_version,
            kind,
            name,
            namespace,
            lambda metadata: any(
                ref.get("uid") == owner_uid for ref in metadata.get("ownerReferences") or []
            ),
        )

    def delete_labelled(self, api_version: str, kind: str, name: str, labels: dict[str, str]) -> bool:
        """Delete the cluster-scoped ``kind`` ``name`` if it exists and carries all of ``labels`` (a
        cluster-scoped child has no owner reference to go by); whether it was deleted."""
        return self._delete_if(
            api_version,
            kind,
            name,
            None,
            lambda metadata: all((metadata.get("labels") or {}).get(k) == v for k, v in labels.items()),
        )

    def _delete_if(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None,
        ours: Callable[[dict[str, Any]], bool],
    ) -> bool:
        resource = self._dynamic.resources.get(api_version=api_version, kind=kind)
        try:
            found = resource.get(name=name, namespace=namespace).to_dict()
        except NotFoundError:
            return False
        metadata = found["metadata"]
        if not ours(metadata):
            return False
        try:  # the precondition: the object looked at, not one made since under the same name
            resource.delete(name=name, namespace=namespace, body={"preconditions": {"uid": metadata["uid"]}})
        except NotFoundError:
            return False
        return True
