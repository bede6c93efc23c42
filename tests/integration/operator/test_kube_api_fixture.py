"""The ``kube_api`` fixture serves a real Kubernetes API: kubectl, CRDs with a status subresource, watches,
core and apps objects, and API discovery (what the operator's version-dependent choices rely on)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from typing import Any

import pytest
from kubernetes import client, watch

from support.kube_apiserver import KubeApiServer

pytestmark = pytest.mark.integration

CRD_GROUP = "fixture.faro.test"
CRD_PLURAL = "probes"
CRD_TIMEOUT_SECONDS = 30.0
KUBECTL_TIMEOUT_SECONDS = 60


def test_server_reports_its_version(kube_api: KubeApiServer) -> None:
    assert kube_api.version.major == 1
    assert (kube_api.version.major, kube_api.version.minor) == kube_api.binaries.version
    assert kube_api.version.git_version.startswith(f"v1.{kube_api.version.minor}.")
    assert kube_api.url.startswith("https://127.0.0.1:")


def _kubectl(
    kube_api: KubeApiServer, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not on PATH", pytrace=False)
    result = subprocess.run(
        [kubectl, f"--kubeconfig={kube_api.kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=KUBECTL_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, f"kubectl {' '.join(args)} failed: {result.stderr}"
    return result


def test_kubectl_gets_and_applies(kube_api: KubeApiServer, namespace: str) -> None:
    listed = json.loads(_kubectl(kube_api, "get", "namespaces", "-o", "json").stdout)
    names = {item["metadata"]["name"] for item in listed["items"]}
    assert {"default", "kube-system", namespace} <= names

    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "applied", "namespace": namespace},
        "data": {"source": "kubectl"},
    }
    _kubectl(kube_api, "apply", "-f", "-", stdin=json.dumps(manifest))
    manifest["data"] = {"source": "kubectl", "applied": "twice"}
    _kubectl(kube_api, "apply", "-f", "-", stdin=json.dumps(manifest))
    applied = json.loads(
        _kubectl(kube_api, "get", "configmap", "applied", "-n", namespace, "-o", "json").stdout
    )
    assert applied["data"] == {"source": "kubectl", "applied": "twice"}


def _probe_crd(group: str) -> dict[str, Any]:
    """A namespaced CRD ``probes.<group>`` (kind Probe, v1) with a status subresource."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{CRD_PLURAL}.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": CRD_PLURAL, "singular": "probe", "kind": "Probe", "listKind": "ProbeList"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"size": {"type": "integer", "minimum": 1}},
                                    "required": ["size"],
                                },
                                "status": {
                                    "type": "object",
                                    "properties": {
                                        "phase": {"type": "string"},
                                        "observed": {"type": "integer"},
                                    },
                                },
                            },
                        }
                    },
                }
            ],
        },
    }


def _wait_established(extensions: client.ApiextensionsV1Api, name: str) -> None:
    deadline = time.monotonic() + CRD_TIMEOUT_SECONDS
    while True:
        conditions = extensions.read_custom_resource_definition(name).status.conditions or []
        if any(c.type == "Established" and c.status == "True" for c in conditions):
            return
        assert time.monotonic() < deadline, f"CRD {name} not Established: {conditions}"
        time.sleep(0.1)


def test_custom_resource_with_status_subresource(
    kube_api: KubeApiServer, kube_api_client: Any, namespace: str
) -> None:
    """Creating, watching and patching custom objects: what crashed kube-apiserver 1.20 built with the
    vendored reflect2 under Go >= 1.18."""
    extensions = client.ApiextensionsV1Api(kube_api_client)
    custom = client.CustomObjectsApi(kube_api_client)
    group = f"t{uuid.uuid4().hex[:8]}.{CRD_GROUP}"
    crd_name = f"{CRD_PLURAL}.{group}"
    extensions.create_custom_resource_definition(_probe_crd(group))
    try:
        _wait_established(extensions, crd_name)
        body = {"apiVersion": f"{group}/v1", "kind": "Probe", "metadata": {"name": "p1"}, "spec": {"size": 3}}
        created = custom.create_namespaced_custom_object(group, "v1", namespace, CRD_PLURAL, body)
        assert created["spec"] == {"size": 3}
        assert "status" not in created

        events = watch.Watch().stream(
            custom.list_namespaced_custom_object, group, "v1", namespace, CRD_PLURAL, timeout_seconds=10
        )
        first = next(events)
        assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "p1")
        events.close()

        patched = custom.patch_namespaced_custom_object_status(
            group, "v1", namespace, CRD_PLURAL, "p1", {"status": {"phase": "Ready", "observed": 1}}
        )
        assert patched["status"] == {"phase": "Ready", "observed": 1}
        # The main resource ignores status changes, the status subresource ignores spec changes.
        custom.patch_namespaced_custom_object(
            group, "v1", namespace, CRD_PLURAL, "p1", {"spec": {"size": 5}, "status": {"phase": "Lost"}}
        )
        custom.patch_namespaced_custom_object_status(
            group, "v1", namespace, CRD_PLURAL, "p1", {"spec": {"size": 9}}
        )
        read = custom.get_namespaced_custom_object(group, "v1", namespace, CRD_PLURAL, "p1")
        assert read["spec"] == {"size": 5}
        assert read["status"] == {"phase": "Ready", "observed": 1}

        with pytest.raises(client.ApiException) as invalid:
            custom.create_namespaced_custom_object(
                group, "v1", namespace, CRD_PLURAL, {**body, "metadata": {"name": "p2"}, "spec": {"size": 0}}
            )
        assert invalid.value.status == 422
    finally:
        extensions.delete_custom_resource_definition(crd_name)
    assert kube_api.version.major == 1  # the server is still up: a crash would have failed the calls above


def test_core_and_apps_objects(kube_api_client: Any, namespace: str) -> None:
    core = client.CoreV1Api(kube_api_client)
    apps = client.AppsV1Api(kube_api_client)
    labels = {"app": "probe"}
    container = client.V1Container(name="main", image="registry.invalid/probe:1")

    config_map = core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"k": "v"})
    )
    assert core.read_namespaced_config_map("settings", namespace).data == {"k": "v"}
    assert config_map.metadata.uid

    deployment = apps.create_namespaced_deployment(
        namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="probe", labels=labels),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels=labels),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=labels), spec=client.V1PodSpec(containers=[container])
                ),
            ),
        ),
    )
    assert deployment.spec.strategy.type == "RollingUpdate"  # defaulted by the API server
    read = apps.read_namespaced_deployment("probe", namespace)
    assert read.spec.replicas == 2
    assert not read.status.replicas  # no controller-manager: nothing creates ReplicaSets or Pods

    service = core.create_namespaced_service(
        namespace,
        client.V1Service(
            metadata=client.V1ObjectMeta(name="probe"),
            spec=client.V1ServiceSpec(
                selector=labels, ports=[client.V1ServicePort(port=80, target_port=8080)]
            ),
        ),
    )
    assert service.spec.cluster_ip.startswith("10.0.0.")  # allocated from --service-cluster-ip-range

    # A Pod is admitted without a ServiceAccount object (the ServiceAccount admission plugin is off).
    pod = core.create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="probe"), spec=client.V1PodSpec(containers=[container])
        ),
    )
    assert pod.status.phase == "Pending"
    assert not pod.spec.node_name


def test_served_api_versions(kube_api: KubeApiServer, record_property: Any) -> None:
    """What the operator chooses by discovery: where CronJob and EndpointSlice are served."""
    served = set(kube_api.served_group_versions())
    assert {"v1", "apps/v1", "batch/v1", "apiextensions.k8s.io/v1", "rbac.authorization.k8s.io/v1"} <= served
    assert "Job" in kube_api.served_kinds("batch/v1")

    cronjob_in_batch_v1 = "CronJob" in kube_api.served_kinds("batch/v1")
    assert cronjob_in_batch_v1 == kube_api.version.at_least(1, 21)
    if not cronjob_in_batch_v1:
        assert "CronJob" in kube_api.served_kinds("batch/v1beta1")
    endpoint_slice_v1 = "discovery.k8s.io/v1" in served
    assert endpoint_slice_v1 == kube_api.version.at_least(1, 21)

    record_property("kubernetes_version", str(kube_api.version))
    record_property("cronjob_group_version", "batch/v1" if cronjob_in_batch_v1 else "batch/v1beta1")
    record_property("served_group_versions", " ".join(sorted(served)))
