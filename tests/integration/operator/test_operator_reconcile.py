"""The operator (kopf, in-process) against a real kube-apiserver + etcd, with real stores: PostgreSQL
(pgserver) and Qdrant (qdrant-client local mode, the same adapter the operator uses in production)."""

from __future__ import annotations

import copy
import subprocess

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from support.polling import wait_for
from support.running_operator import LocalStoreConnector, condition, custom

pytestmark = pytest.mark.integration


def test_applied_resources_get_their_children_status_and_restored_drift(
    operator, resources, kube_api, kube_api_client, namespace: str, connector: LocalStoreConnector
) -> None:
    collections, pipelines = (
        custom(kube_api_client, namespace, "collections"),
        custom(kube_api_client, namespace, "ragpipelines"),
    )
    apps, core = client.AppsV1Api(kube_api_client), client.CoreV1Api(kube_api_client)
    collection_name = resources["collection"]["metadata"]["name"]
    collections.create(resources["collection"])
    pipeline = pipelines.create(resources["pipeline"])

    ready = wait_for(
        lambda: (c := condition(collections.get(collection_name), "Ready")) and c["status"] == "True" and c,
        what="the Collection to be Ready",
    )
    assert ready["reason"] == "AllComponentsReady"
    status = collections.get(collection_name)["status"]
    assert status["postgresRows"] == 0 and status["qdrantPoints"] == 0 and status["dimension"] == 384
    assert connector.qdrant(status["collectionName"]) is not None

    deployments = wait_for(
        lambda: len(items := apps.list_namespaced_deployment(namespace).items) == 3 and items,
        what="3 Deployments",
    )
    for deployment in deployments:
        [owner] = deployment.metadata.owner_references
        assert (owner.kind, owner.name, owner.uid) == ("RagPipeline", "docs", pipeline["metadata"]["uid"])
    names = {d.metadata.name for d in deployments}
    assert names == {"docs-chunker", "docs-embedder", "docs-query"}
    assert {s.metadata.name for s in core.list_namespaced_service(namespace).items} >= {
        "docs-chunker",
        "docs-query",
    }

    def converged() -> dict | None:
        status = pipelines.get("docs").get("status") or {}
        collection_ready = condition({"status": status}, "CollectionReady")
        return status if collection_ready and collection_ready["status"] == "True" else None

    status = wait_for(converged, what="the pipeline to see its Collection ready")
    assert condition({"status": status}, "CollectionReady")["status"] == "True"
    # No controller-manager runs here: Deployments never become available, and Ready says so.
    assert condition({"status": status}, "EmbedderReady")["reason"] == "ReplicasUnavailable"
    assert condition({"status": status}, "Ready")["status"] == "False"
    assert status["observedGeneration"] == pipeline["metadata"]["generation"]
    assert status["documents"] == 0 and status["chunks"] == 0
    assert any(kind.startswith("ServiceMonitor") for kind in status["skippedKinds"])
    assert status["endpoints"]["query"] == f"http://docs-query.{namespace}.svc"
    assert status["access"] == {  # the example's keys Secret, the query key, service-account tokens
        "documents": "apiKeys+serviceAccounts",
        "query": "apiKeys+apiKey+serviceAccounts",
    }

    # kubectl shows the printer columns
    table = subprocess.run(
        ["kubectl", "--kubeconfig", str(kube_api.kubeconfig), "-n", namespace, "get", "ragpipelines"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert table.split("\n")[0].split() == [
        "NAME",
        "READY",
        "COLLECTION",
        "DOCS",
        "CHUNKS",
        "GENERATION",
        "OVERLAP",
        "AGE",
    ]
    assert table.split("\n")[1].split()[:5] == ["docs", "False", collection_name, "0", "0"]

    # a child deleted by hand comes back; a field edited by hand is set back
    apps.delete_namespaced_deployment("docs-embedder", namespace)
    wait_for(
        lambda: apps.read_namespaced_deployment("docs-embedder", namespace), what="the Deployment restored"
    )
    apps.patch_namespaced_deployment("docs-chunker", namespace, {"spec": {"replicas": 7}})
    wait_for(
        lambda: apps.read_namespaced_deployment("docs-chunker", namespace).spec.replicas == 2,
        what="replicas set back",
    )

    # a spec change re-renders the settings and rolls the pods (new checksum)
    before = apps.read_namespaced_deployment("docs-embedder", namespace).spec.template.metadata.annotations
    pipelines.patch("docs", {"spec": {"chunking": {"size": 128}}})
    wait_for(
        lambda: (
            core.read_namespaced_config_map("docs-settings", namespace).data["FARO_CHUNKING__SIZE"] == "128"
        ),
        what="the settings ConfigMap",
    )
    after = wait_for(
        lambda: (
            (
                a := apps.read_namespaced_deployment(
                    "docs-embedder", namespace
                ).spec.template.metadata.annotations
            )
            != before
            and a
        ),
        what="a new pod template",
    )
    assert after["faro.dev/config-checksum"] != before["faro.dev/config-checksum"]

    # without keys and tokens the data APIs close: status says so per API, one event tells kubectl describe
    pipelines.patch(
        "docs",
        {
            "spec": {
                "access": {"apiKeysSecretRef": None, "serviceAccounts": False},
                "query": {"authSecretRef": None},
            }
        },
    )
    wait_for(
        lambda: (
            (pipelines.get("docs").get("status") or {}).get("access")
            == {"documents": "closed", "query": "closed"}
        ),
        what="status.access closed",
    )
    wait_for(
        lambda: [
            e
            for e in core.list_namespaced_event(namespace).items
            if e.involved_object.name == "docs" and e.reason == "AccessClosed" and e.type == "Warning"
        ],
        what="an AccessClosed event",
    )
    data = core.read_namespaced_config_map("docs-settings", namespace).data
    assert data["FARO_AUTH__ANONYMOUS"] == "false"


def test_invalid_resources_are_rejected_or_reported(
    operator, resources, kube_api_client, namespace: str
) -> None:
    pipelines = custom(kube_api_client, namespace, "ragpipelines")
    collections = custom(kube_api_client, namespace, "collections")
    bad = copy.deepcopy(resources["pipeline"])
    bad["spec"]["chunking"]["strategy"] = "bogus"
    with pytest.raises(ApiException) as rejected:
        pipelines.create(bad)
    assert rejected.value.status == 422 and "strategy" in rejected.value.body

    # the Collection it names does not exist yet: not ready with a reason, and picked up once it appears
    pipelines.create(resources["pipeline"])
    wait_for(
        lambda: (
            (c := condition(pipelines.get("docs"), "CollectionReady")) and c["reason"] == "CollectionNotFound"
        ),
        what="CollectionNotFound",
    )
    collections.create(resources["collection"])
    wait_for(
        lambda: (c := condition(pipelines.get("docs"), "CollectionReady")) and c["status"] == "True",
        timeout=90,
        what="the pipeline to find its Collection",
    )

    # a model whose dimension differs from the Collection's
    mismatched = copy.deepcopy(resources["pipeline"])
    mismatched["metadata"]["name"] = "wrong-dim"
    mismatched["spec"]["embedding"]["dimension"] = 768
    pipelines.create(mismatched)
    spec_valid = wait_for(lambda: condition(pipelines.get("wrong-dim"), "SpecValid"), what="SpecValid")
    assert spec_valid["status"] == "False" and spec_valid["reason"] == "DimensionMismatch"
    assert "768" in spec_valid["message"]
