"""Autoscaling on a real kube-apiserver: with KEDA's API registered (its CRDs, as KEDA's install makes them
served), the embedder gets a ScaledObject on its queue and a TriggerAuthentication for its IAM role, the query
service a HorizontalPodAutoscaler in the version the cluster serves; status says which; switching autoscaling
off deletes what the operator made (with an event) and leaves an autoscaler someone else made alone. Every
component has its PodDisruptionBudget in the served version."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import NotFoundError

from support.polling import wait_for
from support.running_operator import custom

pytestmark = pytest.mark.integration

KEDA_GROUP, KEDA_VERSION = "keda.sh", "v1alpha1"
OPEN_SCHEMA = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
KEDA_KINDS = {"scaledobjects": "ScaledObject", "triggerauthentications": "TriggerAuthentication"}


def _crd(plural: str, kind: str) -> dict[str, Any]:
    """A CRD serving ``kind`` in keda.sh/v1alpha1 (the schema left open: the test checks what is sent)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{KEDA_GROUP}"},
        "spec": {
            "group": KEDA_GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.lower(), "kind": kind},
            "versions": [
                {
                    "name": KEDA_VERSION,
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }


@pytest.fixture
def keda_served(kube_api_client: Any) -> Iterator[None]:
    extensions = client.ApiextensionsV1Api(kube_api_client)
    for plural, kind in KEDA_KINDS.items():
        extensions.create_custom_resource_definition(_crd(plural, kind))

    def established(name: str) -> bool:
        conditions = extensions.read_custom_resource_definition(name).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    for plural in KEDA_KINDS:
        wait_for(lambda p=plural: established(f"{p}.{KEDA_GROUP}"), what=f"the {plural} CRD")
    yield
    for plural in KEDA_KINDS:
        extensions.delete_custom_resource_definition(f"{plural}.{KEDA_GROUP}")


HPA = ("autoscaling/v2beta2", "HorizontalPodAutoscaler")  # what this kube-apiserver (1.20) serves
SCALED_OBJECT = (f"{KEDA_GROUP}/{KEDA_VERSION}", "ScaledObject")
TRIGGER_AUTHENTICATION = (f"{KEDA_GROUP}/{KEDA_VERSION}", "TriggerAuthentication")


def _get(kube_api_client: Any, namespace: str, kind: tuple[str, str], name: str) -> dict | None:
    """The object (as a dict), or None when there is none."""
    resource = DynamicClient(kube_api_client).resources.get(api_version=kind[0], kind=kind[1])
    try:
        return resource.get(name=name, namespace=namespace).to_dict()
    except NotFoundError:
        return None


def test_autoscalers_follow_the_spec_and_what_the_cluster_serves(
    keda_served, operator, resources, kube_api_client, namespace: str
) -> None:
    pipelines = custom(kube_api_client, namespace, "ragpipelines")
    custom(kube_api_client, namespace, "collections").create(resources["collection"])
    pipeline = resources["pipeline"]
    embedder_scaling = {"minReplicas": 0, "maxReplicas": 6, "messagesPerReplica": 40}
    pipeline["spec"]["embedder"]["autoscaling"] = embedder_scaling
    pipeline["spec"]["queryService"] = {"autoscaling": {"minReplicas": 2, "maxReplicas": 5}}
    uid = pipelines.create(pipeline)["metadata"]["uid"]
    # Someone's own autoscaler under a name the operator would use: never the operator's to delete.
    DynamicClient(kube_api_client).resources.get(api_version=HPA[0], kind=HPA[1]).create(
        namespace=namespace,
        body={
            "apiVersion": HPA[0],
            "kind": HPA[1],
            "metadata": {"name": "docs-chunker"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "docs-chunker"},
                "minReplicas": 1,
                "maxReplicas": 2,
            },
        },
    )

    def get(kind: tuple[str, str], name: str) -> dict | None:
        return _get(kube_api_client, namespace, kind, name)

    def autoscaling_status() -> dict | None:
        return (pipelines.get("docs").get("status") or {}).get("autoscaling")

    scaled = wait_for(lambda: get(SCALED_OBJECT, "docs-embedder"), what="a ScaledObject")
    assert scaled["metadata"]["ownerReferences"][0]["uid"] == uid
    assert scaled["spec"]["scaleTargetRef"]["name"] == "docs-embedder"
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (0, 6)
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "aws-sqs-queue" and trigger["metadata"]["queueLength"] == "40"
    assert trigger["authenticationRef"] == {"name": "docs-embedder"}
    auth = get(TRIGGER_AUTHENTICATION, "docs-embedder")
    assert auth is not None
    assert auth["spec"]["podIdentity"] == {"provider": "aws", "identityOwner": "workload"}
    query_hpa = wait_for(lambda: get(HPA, "docs-query"), what="the query service's HPA")
    assert (query_hpa["spec"]["minReplicas"], query_hpa["spec"]["maxReplicas"]) == (2, 5)
    status = wait_for(autoscaling_status, what="status")
    assert status == {"embedder": "ScaledObject", "queryService": "HorizontalPodAutoscaler"}
    assert get(HPA, "docs-embedder") is None  # KEDA scales it, not an HPA of ours
    budget = get(("policy/v1beta1", "PodDisruptionBudget"), "docs-embedder")  # policy/v1 from 1.21 on
    assert budget is not None and budget["spec"]["maxUnavailable"] == 1

    # Autoscaling off for the embedder: what the operator made for it goes; the replicas are the spec's again.
    pipelines.patch("docs", {"spec": {"embedder": {"autoscaling": None, "replicas": 3}}})
    wait_for(
        lambda: (
            get(SCALED_OBJECT, "docs-embedder") is None
            and get(TRIGGER_AUTHENTICATION, "docs-embedder") is None
        ),
        what="the embedder's autoscaler to go",
    )
    apps = client.AppsV1Api(kube_api_client)
    wait_for(
        lambda: apps.read_namespaced_deployment("docs-embedder", namespace).spec.replicas == 3,
        what="replicas",
    )
    events = client.CoreV1Api(kube_api_client).list_namespaced_event(namespace).items
    removed = [e.message for e in events if e.reason == "AutoscalerRemoved"]
    assert "deleted ScaledObject docs-embedder: the component no longer uses it" in removed
    wanted = {"queryService": "HorizontalPodAutoscaler"}
    assert wait_for(lambda: autoscaling_status() == wanted, what="status without the embedder")
    assert get(HPA, "docs-chunker") is not None  # not the operator's
    assert get(HPA, "docs-query") is not None
