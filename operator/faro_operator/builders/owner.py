"""The owning custom resource of the children a builder makes, and the manifest type builders return."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from faro_workloads.contract.api import API_VERSION, COLLECTION, RAGPIPELINE

Manifest = dict[str, Any]
"""A Kubernetes object as plain JSON-compatible data, ready for the API or YAML."""

RAGPIPELINE_KIND = RAGPIPELINE.kind
COLLECTION_KIND = COLLECTION.kind


@dataclass(frozen=True)
class Owner:
    """The custom resource a child belongs to: identity, namespace, and uid for ownerReferences."""

    api_version: str
    kind: str
    name: str
    namespace: str
    uid: str

    @classmethod
    def pipeline(cls, name: str, namespace: str, uid: str) -> Owner:
        """A ``faro.dev`` RagPipeline."""
        return cls(API_VERSION, RAGPIPELINE_KIND, name, namespace, uid)

    @classmethod
    def collection(cls, name: str, namespace: str, uid: str) -> Owner:
        """A ``faro.dev`` Collection."""
        return cls(API_VERSION, COLLECTION_KIND, name, namespace, uid)

    def reference(self) -> dict[str, Any]:
        """The controller ownerReference: children are garbage-collected with the resource."""
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
