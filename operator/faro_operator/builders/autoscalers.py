"""The autoscalers of a pipeline's Deployments (``spec.<component>.autoscaling``): a KEDA ScaledObject for the
embedding engine, scaling on its SQS queue's depth, where the cluster serves ``keda.sh``; a CPU
HorizontalPodAutoscaler otherwise, and for the chunker and the query service.

KEDA reads the queue with the embedder's own IAM role (IRSA) when it has one: a TriggerAuthentication with
the ``aws`` pod identity owned by the workload. Without a role, KEDA's operator reads it with its own.
An autoscaler is named after its Deployment; the ones a component no longer wants are listed (``unwanted``)
so that the operator deletes them, and its Deployment is applied without ``replicas``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from faro_operator.builders.components import DEPLOYED, Component, component_name, component_spec, is_enabled
from faro_operator.builders.labels import object_meta
from faro_operator.builders.owner import Manifest, Owner
from faro_operator.builders.served_kinds import (
    HPA,
    HPA_VERSIONS,
    KEDA_API_VERSION,
    SCALED_OBJECT,
    TRIGGER_AUTHENTICATION,
    ServedKinds,
    is_served,
    preferred_version,
    skipped_kind,
)
from faro_operator.specs import RagPipelineSpec

COMPONENT_FIELDS = {
    Component.CHUNKER: "chunker",
    Component.EMBEDDER: "embedder",
    Component.QUERY: "queryService",
}
"""Each Deployment component's field in the spec (and key in ``status.autoscaling``)."""


class ChildRef(NamedTuple):
    api_version: str
    kind: str
    name: str


class Autoscalers(NamedTuple):
    """The autoscaler manifests, the kind rendered per component (by spec field), the autoscalers the
    components do not want (to delete if the operator made them), and autoscaling left out (no API)."""

    manifests: list[Manifest]
    kinds: dict[str, str]
    unwanted: list[ChildRef]
    skipped: list[str]


def build_autoscalers(owner: Owner, spec: RagPipelineSpec, served: ServedKinds) -> Autoscalers:
    manifests: list[Manifest] = []
    kinds: dict[str, str] = {}
    unwanted: list[ChildRef] = []
    skipped: list[str] = []
    keda = is_served(served, KEDA_API_VERSION, SCALED_OBJECT)
    hpa_version = preferred_version(served, HPA, HPA_VERSIONS)
    keda_kinds = (
        [(KEDA_API_VERSION, SCALED_OBJECT), (KEDA_API_VERSION, TRIGGER_AUTHENTICATION)] if keda else []
    )
    hpa_kinds = [(hpa_version, HPA)] if hpa_version is not None else []
    for component in DEPLOYED:
        settings = component_spec(spec, component)
        name = component_name(owner.name, component)
        made: list[Manifest] = []
        if settings is not None and settings.autoscaling is not None and is_enabled(spec, component):
            if component is Component.EMBEDDER and keda:
                made = build_embedder_scaled_object(owner, spec)
            elif hpa_version is not None:
                made = [build_cpu_autoscaler(owner, spec, component, hpa_version)]
            else:
                skipped.append(skipped_kind(HPA, HPA_VERSIONS))
        manifests += made
        if made:
            kinds[COMPONENT_FIELDS[component]] = made[-1]["kind"]
        rendered = {(manifest["apiVersion"], manifest["kind"]) for manifest in made}
        possible = hpa_kinds + (keda_kinds if component is Component.EMBEDDER else [])
        unwanted += [ChildRef(*child, name) for child in possible if child not in rendered]
    return Autoscalers(manifests, kinds, unwanted, sorted(set(skipped)))


def build_embedder_scaled_object(owner: Owner, spec: RagPipelineSpec) -> list[Manifest]:
    """The embedder's ScaledObject on its queue (``aws-sqs-queue``: messages waiting and in flight per
    replica), and its TriggerAuthentication when the embedder has an IAM role."""
    scaling = spec.embedder.autoscaling
    assert scaling is not None
    name = component_name(owner.name, Component.EMBEDDER)
    metadata: dict[str, str] = {
        "queueURL": spec.source.queue_url,
        "queueLength": str(scaling.messages_per_replica),
        "awsRegion": spec.source.region,
    }
    if spec.source.endpoint_url:
        metadata["awsEndpoint"] = spec.source.endpoint_url
    trigger: dict[str, Any] = {"type": "aws-sqs-queue", "metadata": metadata}
    manifests: list[Manifest] = []
    if spec.embedder.service_account_role_arn:
        manifests.append(
            {
                "apiVersion": KEDA_API_VERSION,
                "kind": TRIGGER_AUTHENTICATION,
                "metadata": object_meta(owner, name, Component.EMBEDDER.value),
                "spec": {"podIdentity": {"provider": "aws", "identityOwner": "workload"}},
            }
        )
        trigger["authenticationRef"] = {"name": name}
    manifests.append(
        {
            "apiVersion": KEDA_API_VERSION,
            "kind": SCALED_OBJECT,
            "metadata": object_meta(owner, name, Component.EMBEDDER.value),
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                "minReplicaCount": scaling.min_replicas,
                "maxReplicaCount": scaling.max_replicas,
                "triggers": [trigger],
            },
        }
    )
    return manifests


def build_cpu_autoscaler(
    owner: Owner, spec: RagPipelineSpec, component: Component, api_version: str
) -> Manifest:
    """A HorizontalPodAutoscaler keeping ``component``'s average CPU at its target (``autoscaling/v2``, or
    ``v2beta2``, which reads the same)."""
    settings = component_spec(spec, component)
    assert settings is not None and settings.autoscaling is not None
    scaling = settings.autoscaling
    name = component_name(owner.name, component)
    return {
        "apiVersion": api_version,
        "kind": HPA,
        "metadata": object_meta(owner, name, component.value),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "minReplicas": max(1, scaling.min_replicas),
            "maxReplicas": scaling.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": scaling.cpu_utilization},
                    },
                }
            ],
        },
    }
