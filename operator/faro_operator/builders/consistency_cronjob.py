"""The CronJob that runs ``faro consistency`` for a pipeline (Qdrant vs PostgreSQL, optional repair)."""

from __future__ import annotations

from typing import Any

from faro_operator.builders.component_env import secrets_mount
from faro_operator.builders.components import Component, component_name, settings_configmap_name
from faro_operator.builders.labels import object_meta, standard_labels
from faro_operator.builders.owner import Manifest, Owner
from faro_operator.builders.pod_security import (
    container_security_context,
    image_fields,
    pod_security_context,
    tmp_volume,
    tmp_volume_mount,
)
from faro_operator.builders.resolved_collection import ResolvedCollection
from faro_operator.specs import RagPipelineSpec

CRONJOB_V1 = "batch/v1"
CRONJOB_V1BETA1 = "batch/v1beta1"
NAMESPACE_VARIABLE = "FARO_CONSISTENCY__NAMESPACE"
STARTING_DEADLINE_SECONDS = 300
ACTIVE_DEADLINE_SECONDS = 3600
"""A hung run is stopped after an hour; with ``Forbid`` it would otherwise block every later run."""
BACKOFF_LIMIT = 1


def job_resources() -> dict[str, Any]:
    """The job container's resources: the spec has none for it; it holds one sample of vectors at a time."""
    return {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}


def build_consistency_cronjob(
    owner: Owner, spec: RagPipelineSpec, collection: ResolvedCollection, api_version: str = CRONJOB_V1
) -> Manifest:
    """CronJob ``<pipeline>-consistency`` on ``spec.consistency.schedule``, running ``faro consistency``.

    The pod gets the settings ConfigMap, the store secrets (DSN, Qdrant key) as files, and its namespace
    through the downward API, so the job can write the RagPipeline's ``status.consistency`` with its
    ServiceAccount (whose token it mounts; see :mod:`faro_operator.builders.rbac`). Runs never overlap
    (``Forbid``).
    ``api_version`` may be ``batch/v1beta1`` for clusters older than 1.21: the shape is the same.
    """
    if api_version not in (CRONJOB_V1, CRONJOB_V1BETA1):
        raise ValueError(f"unsupported CronJob apiVersion {api_version!r}")
    component = Component.CONSISTENCY
    name = component_name(owner.name, component)
    env: list[dict[str, Any]] = [
        {"name": NAMESPACE_VARIABLE, "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
    ]
    container = {
        "name": component.value,
        **image_fields(spec.image),
        "args": ["consistency"],
        "envFrom": [{"configMapRef": {"name": settings_configmap_name(owner.name)}}],
        "env": env,
        "resources": job_resources(),
        "securityContext": container_security_context(),
        "volumeMounts": [tmp_volume_mount()],
    }
    volumes = [tmp_volume()]
    secrets = secrets_mount(component, spec, collection)
    if secrets is not None:
        volumes.append(secrets[0])
        container["volumeMounts"].append(secrets[1])
        env += secrets[2]
    return {
        "apiVersion": api_version,
        "kind": "CronJob",
        "metadata": object_meta(owner, name, component.value),
        "spec": {
            "schedule": spec.consistency.schedule,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": STARTING_DEADLINE_SECONDS,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": standard_labels(owner, component.value)},
                "spec": {
                    "backoffLimit": BACKOFF_LIMIT,
                    "activeDeadlineSeconds": ACTIVE_DEADLINE_SECONDS,
                    "template": {
                        "metadata": {"labels": standard_labels(owner, component.value)},
                        "spec": {
                            "restartPolicy": "Never",
                            "serviceAccountName": name,
                            "automountServiceAccountToken": True,
                            "enableServiceLinks": False,
                            "securityContext": pod_security_context(),
                            "containers": [container],
                            "volumes": volumes,
                        },
                    },
                },
            },
        },
    }
