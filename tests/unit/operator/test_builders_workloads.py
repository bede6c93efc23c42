"""Deployments, ServiceAccounts and Services of a pipeline's components."""

from __future__ import annotations

from typing import Any

import pytest

from faro_operator.builders import (
    CHECKSUM_ANNOTATION,
    Component,
    build_api_service,
    build_component_deployment,
    build_pipeline_deployments,
    build_pipeline_service_accounts,
    build_pipeline_services,
    selector_labels,
)
from faro_operator.builders.component_env import SECRETS_VOLUME
from faro_operator.specs import RagPipelineSpec
from faro_workloads.contract.shutdown import HTTP_DRAIN_SECONDS

from support.operator_builders import (
    NAMESPACE,
    PIPELINE,
    full_pipeline_spec,
    only_container,
    pipeline_spec,
    pod_spec,
    resolved,
    shared_objects,
    validate_strict,
)

CHECKSUM = "a" * 64


def _deployment(component: Component, spec: RagPipelineSpec | None = None) -> dict[str, Any]:
    return build_component_deployment(component, PIPELINE, spec or full_pipeline_spec(), resolved(), CHECKSUM)


# ------------------------------------------------------------------------------------------- Deployments


@pytest.mark.parametrize("component", [Component.CHUNKER, Component.EMBEDDER, Component.QUERY])
def test_deployment_is_valid_owned_and_labelled(component: Component) -> None:
    deployment = _deployment(component)
    validate_strict(deployment)
    assert not shared_objects(deployment)
    meta = deployment["metadata"]
    assert meta["name"] == f"docs-pipeline-{component}"
    assert meta["namespace"] == NAMESPACE
    assert meta["ownerReferences"] == [PIPELINE.reference()]
    assert meta["labels"]["faro.dev/pipeline"] == "docs-pipeline"
    assert meta["labels"]["app.kubernetes.io/component"] == component.value
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector == selector_labels(PIPELINE, component.value)
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    template_meta = deployment["spec"]["template"]["metadata"]
    assert template_meta["annotations"] == {CHECKSUM_ANNOTATION: CHECKSUM}
    assert template_meta["labels"]["faro.dev/pipeline"] == "docs-pipeline"


@pytest.mark.parametrize("component", [Component.CHUNKER, Component.EMBEDDER, Component.QUERY])
def test_deployment_runs_hardened(component: Component) -> None:
    pod = pod_spec(_deployment(component))
    container = only_container(_deployment(component))
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (10001, 10001)
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["runAsNonRoot"] is True
    # the services that review service-account tokens need their own to ask the API server; no other pod
    assert pod["automountServiceAccountToken"] is (component in ("chunker", "query"))
    assert pod["serviceAccountName"] == f"docs-pipeline-{component}"
    assert pod["enableServiceLinks"] is False
    assert container["volumeMounts"][0] == {"name": "tmp", "mountPath": "/tmp"}
    assert pod["volumes"][0] == {"name": "tmp", "emptyDir": {}}
    assert container["envFrom"] == [{"configMapRef": {"name": "docs-pipeline-settings"}}]


@pytest.mark.parametrize(
    ("component", "port_name", "port", "args"),
    [
        (Component.CHUNKER, "http", 8080, ["serve", "chunker", "--host", "0.0.0.0", "--port", "8080"]),
        (Component.QUERY, "http", 8080, ["serve", "query", "--host", "0.0.0.0", "--port", "8080"]),
        (
            Component.EMBEDDER,
            "metrics",
            9090,
            ["serve", "embedder", "--host", "0.0.0.0", "--port", "9090", "--shutdown-grace", "45"],
        ),
    ],
)
def test_deployment_ports_probes_and_args(
    component: Component, port_name: str, port: int, args: list[str]
) -> None:
    container = only_container(_deployment(component))
    assert container["args"] == args
    assert container["ports"] == [{"name": port_name, "containerPort": port, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": port_name}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port_name}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": port_name}


def test_embedder_gets_time_to_finish_its_messages() -> None:
    embedder = _deployment(Component.EMBEDDER)
    worker_grace = int(only_container(embedder)["args"][-1])
    assert worker_grace == 45
    # the kubelet's SIGKILL comes well after the worker's own grace period
    assert pod_spec(embedder)["terminationGracePeriodSeconds"] >= worker_grace + 10
    assert "lifecycle" not in only_container(embedder)  # nothing routes to it: no pause before SIGTERM


@pytest.mark.parametrize("component", [Component.CHUNKER, Component.QUERY])
def test_http_services_pause_for_endpoint_removal_then_drain_before_the_kill(component: Component) -> None:
    deployment = _deployment(component)
    pause = only_container(deployment)["lifecycle"]["preStop"]["exec"]["command"]
    assert pause[0] == "sleep" and int(pause[1]) == 5
    # pause + uvicorn's graceful shutdown (open requests finish) + closing, before the SIGKILL
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] >= int(pause[1]) + HTTP_DRAIN_SECONDS + 5


def test_images_replicas_and_resources_follow_the_spec() -> None:
    spec = full_pipeline_spec(
        embedder={"resources": {"requests": {"cpu": "2", "memory": None}, "limits": {}}}
    )
    chunker, embedder, query = (
        _deployment(c, spec) for c in (Component.CHUNKER, Component.EMBEDDER, Component.QUERY)
    )
    assert only_container(chunker)["image"] == "ghcr.io/faro-dev/faro-workloads:0.1.0"
    assert only_container(chunker)["imagePullPolicy"] == "IfNotPresent"
    assert (only_container(query)["image"], only_container(query)["imagePullPolicy"]) == (
        "registry.local/faro:dev",
        "Always",
    )
    assert [d["spec"]["replicas"] for d in (chunker, embedder, query)] == [2, 3, 1]
    assert only_container(chunker)["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"memory": "1Gi"},
    }
    assert only_container(embedder)["resources"] == {"requests": {"cpu": "2"}}


def test_query_deployment_only_when_enabled() -> None:
    enabled = [
        d["metadata"]["name"]
        for d in build_pipeline_deployments(PIPELINE, full_pipeline_spec(), resolved(), CHECKSUM)
    ]
    assert enabled == ["docs-pipeline-chunker", "docs-pipeline-embedder", "docs-pipeline-query"]
    spec = full_pipeline_spec(query={"enabled": False})
    disabled = [
        d["metadata"]["name"] for d in build_pipeline_deployments(PIPELINE, spec, resolved(), CHECKSUM)
    ]
    assert disabled == ["docs-pipeline-chunker", "docs-pipeline-embedder"]


def test_consistency_is_not_a_deployment() -> None:
    with pytest.raises(ValueError, match="Deployment"):
        _deployment(Component.CONSISTENCY)


# ------------------------------------------------------------------------------------------ ServiceAccounts


def test_service_accounts_carry_irsa_roles_and_token_policy() -> None:
    accounts = {
        a["metadata"]["name"]: a for a in build_pipeline_service_accounts(PIPELINE, full_pipeline_spec())
    }
    assert set(accounts) == {f"docs-pipeline-{c}" for c in ("chunker", "embedder", "query", "consistency")}
    for account in accounts.values():
        validate_strict(account)
        assert account["metadata"]["ownerReferences"] == [PIPELINE.reference()]
    role = "eks.amazonaws.com/role-arn"
    assert accounts["docs-pipeline-chunker"]["metadata"]["annotations"] == {
        role: "arn:aws:iam::123456789012:role/faro-chunker"
    }
    assert accounts["docs-pipeline-embedder"]["metadata"]["annotations"][role].endswith("/faro-embedder")
    assert "annotations" not in accounts["docs-pipeline-query"]["metadata"]
    consistency = accounts["docs-pipeline-consistency"]
    assert consistency["metadata"]["annotations"][role].endswith("/faro-consistency")
    assert accounts["docs-pipeline-consistency"]["automountServiceAccountToken"] is True
    plain = build_pipeline_service_accounts(PIPELINE, pipeline_spec())
    assert all("annotations" not in account["metadata"] for account in plain)
    assert accounts["docs-pipeline-embedder"]["automountServiceAccountToken"] is False


def test_no_query_service_account_when_query_is_disabled() -> None:
    names = {
        a["metadata"]["name"]
        for a in build_pipeline_service_accounts(PIPELINE, pipeline_spec(query={"enabled": False}))
    }
    assert names == {"docs-pipeline-chunker", "docs-pipeline-embedder", "docs-pipeline-consistency"}


# ------------------------------------------------------------------------------------------------ Services


def test_api_services_map_port_80_to_http() -> None:
    services = {s["metadata"]["name"]: s for s in build_pipeline_services(PIPELINE, full_pipeline_spec())}
    assert set(services) == {"docs-pipeline-chunker", "docs-pipeline-embedder", "docs-pipeline-query"}
    for service in services.values():
        validate_strict(service)
        assert service["metadata"]["ownerReferences"] == [PIPELINE.reference()]
        assert service["metadata"]["labels"]["faro.dev/pipeline"] == "docs-pipeline"
    for component in ("chunker", "query"):
        spec = services[f"docs-pipeline-{component}"]["spec"]
        assert spec["type"] == "ClusterIP"
        assert spec["ports"] == [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http"}]
        assert spec["selector"] == selector_labels(PIPELINE, component)


def test_embedder_metrics_service_is_headless_on_9090() -> None:
    service = next(
        s
        for s in build_pipeline_services(PIPELINE, pipeline_spec())
        if s["metadata"]["name"].endswith("embedder")
    )
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["ports"] == [
        {"name": "metrics", "protocol": "TCP", "port": 9090, "targetPort": "metrics"}
    ]
    assert service["spec"]["selector"] == selector_labels(PIPELINE, "embedder")


def test_no_query_service_when_query_is_disabled() -> None:
    names = [
        s["metadata"]["name"]
        for s in build_pipeline_services(PIPELINE, pipeline_spec(query={"enabled": False}))
    ]
    assert names == ["docs-pipeline-chunker", "docs-pipeline-embedder"]


def test_embedder_serves_no_api() -> None:
    with pytest.raises(ValueError, match="no HTTP API"):
        build_api_service(PIPELINE, Component.EMBEDDER)


@pytest.mark.parametrize("component", [Component.CHUNKER, Component.EMBEDDER, Component.QUERY])
def test_only_the_embedder_mounts_the_golden_queries_and_only_when_named(component: Component) -> None:
    golden = {"configMap": "docs-golden", "key": "gold.yaml"}
    spec = pipeline_spec(generations={"goldenQueries": golden})
    with_golden = build_component_deployment(component, PIPELINE, spec, resolved(), CHECKSUM)
    validate_strict(with_golden)
    without = only_container(
        build_component_deployment(component, PIPELINE, pipeline_spec(), resolved(), CHECKSUM)
    )
    assert [m["name"] for m in without["volumeMounts"]] == ["tmp", SECRETS_VOLUME]
    mounts = {m["name"]: m for m in only_container(with_golden)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(with_golden)["volumes"]}
    if component is not Component.EMBEDDER:
        assert set(mounts) == set(volumes) == {"tmp", SECRETS_VOLUME}
        return
    assert mounts["golden-queries"] == {
        "name": "golden-queries",
        "mountPath": "/etc/faro/golden-queries",
        "readOnly": True,
    }
    # optional: a missing ConfigMap must not keep the embedder from starting (the gate reports it)
    assert volumes["golden-queries"]["configMap"] == {
        "name": "docs-golden",
        "items": [{"key": "gold.yaml", "path": "gold.yaml"}],
        "optional": True,
    }
