"""Autoscalers of a pipeline's Deployments: KEDA's ScaledObject on the queue for the embedder where keda.sh is
served (reading the queue with the embedder's IAM role), a CPU HorizontalPodAutoscaler otherwise and for the
other components; Deployments without replicas while autoscaled; what no component wants any more listed for
deletion; and the spec's bounds refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from faro_operator.builders import build_autoscalers, build_pipeline_children
from faro_operator.builders.autoscalers import ChildRef
from faro_operator.builders.served_kinds import KEDA_API_VERSION
from faro_operator.render import modern_cluster

from support.operator_builders import PIPELINE, pipeline_spec, resolved, validate_strict

EMBEDDER_ROLE = "arn:aws:iam::123456789012:role/faro-embedder"
KEDA = modern_cluster(keda=True)
NO_KEDA = modern_cluster()
OLD_CLUSTER = frozenset({("autoscaling/v2beta2", "HorizontalPodAutoscaler")})
NO_AUTOSCALING_API: frozenset[tuple[str, str]] = frozenset()


def _autoscaled(**embedder: object) -> dict[str, object]:
    return {
        "embedder": {
            "autoscaling": {"minReplicas": 0, "maxReplicas": 12, "messagesPerReplica": 50},
            **embedder,
        },
        "queryService": {"autoscaling": {"minReplicas": 0, "maxReplicas": 4, "cpuUtilization": 60}},
    }


def _by_kind(manifests: list[dict]) -> dict[str, dict]:
    return {manifest["kind"]: manifest for manifest in manifests}


def _assert_scaled_object_shape(manifest: dict) -> None:
    """The fields of a ``keda.sh/v1alpha1`` ScaledObject the builder uses, as KEDA documents them."""
    assert set(manifest) == {"apiVersion", "kind", "metadata", "spec"}
    spec = manifest["spec"]
    assert set(spec) <= {"scaleTargetRef", "minReplicaCount", "maxReplicaCount", "triggers"}
    assert set(spec["scaleTargetRef"]) == {"apiVersion", "kind", "name"}
    for trigger in spec["triggers"]:
        assert set(trigger) <= {"type", "metadata", "authenticationRef"}
        assert all(isinstance(value, str) for value in trigger["metadata"].values())  # KEDA reads strings


def test_the_embedder_scales_on_its_queue_with_its_own_role_where_keda_is_served() -> None:
    spec = pipeline_spec(**_autoscaled(serviceAccountRoleArn=EMBEDDER_ROLE))
    autoscalers = build_autoscalers(PIPELINE, spec, KEDA)
    kinds = _by_kind(autoscalers.manifests)
    scaled, auth = kinds["ScaledObject"], kinds["TriggerAuthentication"]
    _assert_scaled_object_shape(scaled)
    name = "docs-pipeline-embedder"
    assert scaled["metadata"]["name"] == auth["metadata"]["name"] == name
    assert scaled["metadata"]["ownerReferences"][0]["uid"] == PIPELINE.uid
    assert scaled["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (0, 12)
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger == {
        "type": "aws-sqs-queue",
        "metadata": {
            "queueURL": "https://sqs.eu-west-1.amazonaws.com/123456789012/faro",
            "queueLength": "50",
            "awsRegion": "us-east-1",
        },
        "authenticationRef": {"name": name},
    }
    assert auth["spec"] == {"podIdentity": {"provider": "aws", "identityOwner": "workload"}}
    assert autoscalers.kinds == {"embedder": "ScaledObject", "queryService": "HorizontalPodAutoscaler"}


def test_without_a_role_keda_reads_the_queue_with_its_own_identity_and_the_endpoint_is_passed() -> None:
    spec = pipeline_spec(
        source={
            "bucket": "faro-docs",
            "queueUrl": "http://sqs.local:4566/q",
            "endpointUrl": "http://sqs.local:4566",
        },
        **_autoscaled(),
    )
    kinds = _by_kind(build_autoscalers(PIPELINE, spec, KEDA).manifests)
    assert "TriggerAuthentication" not in kinds
    (trigger,) = kinds["ScaledObject"]["spec"]["triggers"]
    assert "authenticationRef" not in trigger
    assert trigger["metadata"]["awsEndpoint"] == "http://sqs.local:4566"


@pytest.mark.parametrize(
    ("served", "version"), [(NO_KEDA, "autoscaling/v2"), (OLD_CLUSTER, "autoscaling/v2beta2")]
)
def test_without_keda_every_autoscaled_component_gets_a_cpu_autoscaler(served, version: str) -> None:
    autoscalers = build_autoscalers(PIPELINE, pipeline_spec(**_autoscaled()), served)
    assert [(m["apiVersion"], m["kind"], m["metadata"]["name"]) for m in autoscalers.manifests] == [
        (version, "HorizontalPodAutoscaler", "docs-pipeline-embedder"),
        (version, "HorizontalPodAutoscaler", "docs-pipeline-query"),
    ]
    query = autoscalers.manifests[1]
    assert (query["spec"]["minReplicas"], query["spec"]["maxReplicas"]) == (1, 4)  # an HPA keeps one at least
    assert query["spec"]["metrics"][0]["resource"]["target"] == {
        "type": "Utilization",
        "averageUtilization": 60,
    }
    if version == "autoscaling/v2":
        for manifest in autoscalers.manifests:
            validate_strict(manifest)
    assert autoscalers.kinds == {
        "embedder": "HorizontalPodAutoscaler",
        "queryService": "HorizontalPodAutoscaler",
    }


def test_a_cluster_without_an_autoscaling_api_reports_it_instead() -> None:
    autoscalers = build_autoscalers(PIPELINE, pipeline_spec(**_autoscaled()), NO_AUTOSCALING_API)
    assert autoscalers.manifests == [] and autoscalers.kinds == {}
    assert autoscalers.skipped == ["HorizontalPodAutoscaler (autoscaling/v2 or autoscaling/v2beta2)"]


def test_autoscaled_deployments_leave_their_replicas_to_the_autoscaler() -> None:
    manifests, _ = build_pipeline_children(PIPELINE, pipeline_spec(**_autoscaled()), resolved(), KEDA)
    deployments = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Deployment"}
    assert "replicas" not in deployments["docs-pipeline-embedder"]["spec"]
    assert "replicas" not in deployments["docs-pipeline-query"]["spec"]
    assert deployments["docs-pipeline-chunker"]["spec"]["replicas"] == 1
    kinds = [m["kind"] for m in manifests]
    assert kinds.index("ScaledObject") > kinds.index("Deployment")  # applied after what they scale


def test_what_no_component_wants_is_listed_for_deletion() -> None:
    """An autoscaler switched off, or replaced by another kind, is deleted by the operator (if it made it)."""
    plain = build_autoscalers(PIPELINE, pipeline_spec(), KEDA)
    assert plain.manifests == [] and plain.kinds == {}
    assert set(plain.unwanted) == {
        ChildRef("autoscaling/v2", "HorizontalPodAutoscaler", "docs-pipeline-chunker"),
        ChildRef("autoscaling/v2", "HorizontalPodAutoscaler", "docs-pipeline-embedder"),
        ChildRef("autoscaling/v2", "HorizontalPodAutoscaler", "docs-pipeline-query"),
        ChildRef(KEDA_API_VERSION, "ScaledObject", "docs-pipeline-embedder"),
        ChildRef(KEDA_API_VERSION, "TriggerAuthentication", "docs-pipeline-embedder"),
    }
    scaled = build_autoscalers(
        PIPELINE, pipeline_spec(**_autoscaled(serviceAccountRoleArn=EMBEDDER_ROLE)), KEDA
    )
    assert set(scaled.unwanted) == {
        ChildRef("autoscaling/v2", "HorizontalPodAutoscaler", "docs-pipeline-chunker"),
        ChildRef("autoscaling/v2", "HorizontalPodAutoscaler", "docs-pipeline-embedder"),  # KEDA scales it
    }
    no_query = pipeline_spec(query={"enabled": False}, **_autoscaled())
    assert "queryService" not in build_autoscalers(PIPELINE, no_query, NO_KEDA).kinds


@pytest.mark.parametrize(
    ("autoscaling", "message"),
    [
        ({"minReplicas": 5, "maxReplicas": 2}, "maxReplicas (2) is below minReplicas (5)"),
        ({"maxReplicas": 0}, "greater than or equal to 1"),
        ({"cpuUtilization": 0}, "greater than or equal to 1"),
        ({"messagesPerReplica": 0}, "greater than or equal to 1"),
    ],
)
def test_autoscaling_bounds_are_checked(autoscaling: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pipeline_spec(embedder={"autoscaling": autoscaling})
