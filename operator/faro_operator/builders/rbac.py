"""RBAC of the consistency job: it may read and patch its own RagPipeline's status, nothing else."""

from __future__ import annotations

from faro_operator.builders.components import Component, component_name
from faro_operator.builders.labels import object_meta
from faro_operator.builders.owner import Manifest, Owner
from faro_workloads.contract.api import GROUP, RAGPIPELINE


def build_consistency_role(owner: Owner) -> Manifest:
    """Role ``<pipeline>-consistency``: ``get``/``patch`` on ``ragpipelines/status`` of this pipeline only."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": object_meta(
            owner, component_name(owner.name, Component.CONSISTENCY), Component.CONSISTENCY
        ),
        "rules": [
            {
                "apiGroups": [GROUP],
                "resources": [RAGPIPELINE.status_resource],
                "resourceNames": [owner.name],
                "verbs": ["get", "patch"],
            }
        ],
    }


def build_consistency_role_binding(owner: Owner) -> Manifest:
    """RoleBinding ``<pipeline>-consistency``: the Role above, granted to the job's ServiceAccount."""
    name = component_name(owner.name, Component.CONSISTENCY)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": object_meta(owner, name, Component.CONSISTENCY),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": owner.namespace}],
    }
