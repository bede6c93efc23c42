"""The consistency CronJob and its RBAC, the NetworkPolicy and the ServiceMonitor of a pipeline."""

from __future__ import annotations

import pytest

from faro_operator.builders import (
    build_consistency_cronjob,
    build_consistency_role,
    build_consistency_role_binding,
    build_network_policy,
    build_pipeline_deployments,
    build_pipeline_service_monitor,
    build_pipeline_services,
)

from support.operator_builders import (
    NAMESPACE,
    PIPELINE,
    assert_service_monitor_shape,
    full_pipeline_spec,
    only_container,
    pipeline_spec,
    pod_spec,
    resolved,
    shared_objects,
    validate_strict,
)

CHECKSUM = "a" * 64


# -------------------------------------------------------------------------------- consistency CronJob + RBAC


def test_consistency_cronjob() -> None:
    cronjob = build_consistency_cronjob(PIPELINE, full_pipeline_spec(), resolved())
    validate_strict(cronjob)
    assert not shared_objects(cronjob)
    assert cronjob["apiVersion"] == "batch/v1"
    assert cronjob["metadata"]["name"] == "docs-pipeline-consistency"
    assert cronjob["metadata"]["ownerReferences"] == [PIPELINE.reference()]
    spec = cronjob["spec"]
    assert spec["schedule"] == "0 * * * *"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 3)
    assert spec["startingDeadlineSeconds"] > 0
    assert 0 <= spec["jobTemplate"]["spec"]["backoffLimit"] <= 2
    pod = pod_spec(cronjob)
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "docs-pipeline-consistency"
    assert pod["automountServiceAccountToken"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    container = only_container(cronjob)
    assert container["args"] == ["consistency"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["envFrom"] == [{"configMapRef": {"name": "docs-pipeline-settings"}}]
    namespace = next(e for e in container["env"] if e["name"] == "FARO_CONSISTENCY__NAMESPACE")
    assert namespace["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    labels = spec["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    assert labels["faro.dev/pipeline"] == "docs-pipeline"
    assert labels["app.kubernetes.io/component"] == "consistency"


def test_consistency_cronjob_for_old_clusters() -> None:
    current = build_consistency_cronjob(PIPELINE, pipeline_spec(), resolved())
    old = build_consistency_cronjob(PIPELINE, pipeline_spec(), resolved(), api_version="batch/v1beta1")
    assert old["apiVersion"] == "batch/v1beta1"
    assert {**old, "apiVersion": "batch/v1"} == current
    with pytest.raises(ValueError, match="apiVersion"):
        build_consistency_cronjob(PIPELINE, pipeline_spec(), resolved(), api_version="batch/v2")


def test_consistency_role_allows_exactly_the_status_patch() -> None:
    role = build_consistency_role(PIPELINE)
    validate_strict(role)
    assert role["metadata"]["ownerReferences"] == [PIPELINE.reference()]
    assert role["rules"] == [
        {
            "apiGroups": ["faro.dev"],
            "resources": ["ragpipelines/status"],
            "resourceNames": ["docs-pipeline"],
            "verbs": ["get", "patch"],
        }
    ]


def test_consistency_role_binding_grants_the_job_account() -> None:
    binding = build_consistency_role_binding(PIPELINE)
    validate_strict(binding)
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": build_consistency_role(PIPELINE)["metadata"]["name"],
    }
    cronjob = build_consistency_cronjob(PIPELINE, pipeline_spec(), resolved())
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": pod_spec(cronjob)["serviceAccountName"], "namespace": NAMESPACE}
    ]


# ------------------------------------------------------------------------------------------- NetworkPolicy


def test_network_policy_restricts_ingress_only() -> None:
    policy = build_network_policy(PIPELINE)
    validate_strict(policy)
    spec = policy["spec"]
    assert spec["podSelector"] == {"matchLabels": {"faro.dev/pipeline": "docs-pipeline"}}
    assert spec["policyTypes"] == ["Ingress"]  # egress (DNS included) stays open
    assert "egress" not in spec
    (rule,) = spec["ingress"]
    assert rule["from"] == [{"podSelector": {}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": "http"}, {"protocol": "TCP", "port": "metrics"}]


def test_network_policy_admits_named_namespaces() -> None:
    policy = build_network_policy(
        PIPELINE, ingress_namespaces=["monitoring", NAMESPACE, "ingress-nginx", "monitoring"]
    )
    validate_strict(policy)
    assert policy["spec"]["ingress"][0]["from"] == [
        {"podSelector": {}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
    ]


def test_network_policy_selects_the_pods_of_every_component() -> None:
    selector = build_network_policy(PIPELINE)["spec"]["podSelector"]["matchLabels"]
    spec = full_pipeline_spec()
    templates = [
        d["spec"]["template"]["metadata"]["labels"]
        for d in build_pipeline_deployments(PIPELINE, spec, resolved(), CHECKSUM)
    ]
    cronjob = build_consistency_cronjob(PIPELINE, spec, resolved())
    templates.append(cronjob["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"])
    assert all(selector.items() <= labels.items() for labels in templates)


# ------------------------------------------------------------------------------------------ ServiceMonitor


def test_pipeline_service_monitor_scrapes_every_service() -> None:
    spec = full_pipeline_spec()
    monitor = build_pipeline_service_monitor(PIPELINE, spec)
    assert monitor is not None
    assert_service_monitor_shape(monitor)  # not in kubernetes-validate's schemas: checked explicitly
    assert monitor["metadata"]["ownerReferences"] == [PIPELINE.reference()]
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    pipeline_label = {
        "action": "replace",
        "sourceLabels": ["__meta_kubernetes_service_label_faro_dev_pipeline"],
        "targetLabel": "pipeline",
    }  # the dashboards and alerts select by pipeline; the Services carry faro.dev/pipeline
    assert monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "30s", "relabelings": [pipeline_label]},
        {"port": "metrics", "path": "/metrics", "interval": "30s", "relabelings": [pipeline_label]},
    ]
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector["faro.dev/pipeline"] == "docs-pipeline"
    services = build_pipeline_services(PIPELINE, spec)
    assert all(selector.items() <= s["metadata"]["labels"].items() for s in services)
    assert all(s["metadata"]["labels"]["faro.dev/pipeline"] == "docs-pipeline" for s in services)
    scraped_ports = {e["port"] for e in monitor["spec"]["endpoints"]}
    assert all({p["name"] for p in s["spec"]["ports"]} & scraped_ports for s in services)


def test_no_service_monitor_when_monitoring_is_off() -> None:
    assert (
        build_pipeline_service_monitor(PIPELINE, pipeline_spec(monitoring={"serviceMonitor": False})) is None
    )
