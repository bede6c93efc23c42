"""A model change end to end on a real kube-apiserver: the operator renders the new model into the embedding
engine's settings, the engine's own generation code (run here with the environment the kubelet would give
its pod, through the real Portkey gateway to a real model server) builds generation 2 and cuts over, and
the RagPipeline shows it — Reindexing while it builds, then Ready with generation 2 in status and in the
GENERATION column that ``kubectl get`` prints. The change is made with ``faro reindex``, which follows it to
the cutover, and undone with ``faro generations rollback``, which embeds nothing.

No kubelet runs here: the test plays it (the embedder's process, in-process) and the controller-manager
(the Deployments' available replicas)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from kubernetes import client

from faro_operator import GROUP, VERSION
from faro_workloads.contract.settings import FaroSettings
from faro_workloads.core.embedding import build_embedder
from faro_workloads.core.ingest import IncomingDocument
from faro_workloads.core.profile_runtime import gateway_embedder_factory
from faro_workloads.core.retrieval import Backend
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.data_plane import IngestPath

from support.model_servers import ModelsServer
from support.operator_builders import container_environment
from support.operator_builders import pod_environment as support_pod_environment
from support.polling import wait_for
from support.running_operator import LocalStoreConnector, condition, custom

pytestmark = pytest.mark.integration

DIMENSION = 384


def pod_environment(  # type: ignore[no-untyped-def]
    kube_api_client, namespace: str, deployment: str, folder: Path | None = None
) -> dict[str, str]:
    """The variables the kubelet would give ``deployment``'s container, read from the API server; with
    ``folder``, its secret files too, written there as the kubelet would mount them."""
    apps, core = client.AppsV1Api(kube_api_client), client.CoreV1Api(kube_api_client)
    body = kube_api_client.sanitize_for_serialization(apps.read_namespaced_deployment(deployment, namespace))
    pod = body["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    configmaps = {
        source["configMapRef"]["name"]: core.read_namespaced_config_map(
            source["configMapRef"]["name"], namespace
        ).data
        for source in container.get("envFrom", [])
    }
    if folder is None:
        return container_environment(container, configmaps, namespace)
    secrets = {
        (secret.metadata.name, key): base64.b64decode(value).decode()
        for secret in core.list_namespaced_secret(namespace).items
        for key, value in (secret.data or {}).items()
    }
    return support_pod_environment(pod, configmaps, folder, secrets, namespace)


@contextmanager
def embedding_engine(
    environment: dict[str, str], connector: LocalStoreConnector, monkeypatch: pytest.MonkeyPatch
) -> Iterator[IngestPath]:
    """What ``faro serve embedder`` builds for its ingest and generations from ``environment`` (its stores:
    PostgreSQL at the Secret's DSN, and the operator's local-mode Qdrant for the Collection's URL)."""
    with monkeypatch.context() as patched:
        for name in [n for n in os.environ if n.startswith("FARO_")]:
            patched.delenv(name)
        for name, value in environment.items():
            patched.setenv(name, value)
        settings = FaroSettings()
    qdrant = connector.qdrant(settings.collection.name)
    assert qdrant is not None, "the operator opened the Collection's Qdrant"
    pg = PgVectorStore(settings.postgres, settings.collection)
    model = build_embedder(settings.embedding)
    path = IngestPath(
        pg,
        qdrant,
        model,
        settings.chunking,
        generations=settings.generations,
        build_embedder=gateway_embedder_factory(settings.embedding),
        query=settings.query,
    )
    try:
        yield path
    finally:
        path.close()
        model.close()
        pg.close()


def deployments_available(kube_api_client, namespace: str) -> None:  # type: ignore[no-untyped-def]
    """What the controller-manager would write once the pods are ready."""
    apps = client.AppsV1Api(kube_api_client)
    for deployment in apps.list_namespaced_deployment(namespace).items:
        replicas = deployment.spec.replicas or 0
        status = {"replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas}
        apps.patch_namespaced_deployment_status(
            deployment.metadata.name, namespace, {"status": {**status, "updatedReplicas": replicas}}
        )


def faro_cli(*args: str) -> subprocess.Popen[str]:
    """``faro ARGS`` in a process of its own (the kubeconfig from KUBECONFIG, as a user's shell has it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "faro_workloads.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def printed_generation(kube_api_client, namespace: str, name: str) -> str:  # type: ignore[no-untyped-def]
    """The GENERATION cell of ``kubectl get ragpipelines`` (the API server's Table rendering)."""
    table = kube_api_client.call_api(
        f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/ragpipelines/{name}",
        "GET",
        header_params={"Accept": "application/json;as=Table;g=meta.k8s.io;v=v1"},
        response_types_map={200: "object"},
        auth_settings=["BearerToken"],
        _return_http_data_only=True,
    )
    columns = [column["name"] for column in table["columnDefinitions"]]
    return str(table["rows"][0]["cells"][columns.index("Generation")])


def pipeline_on_model_a(resources, kube_api_client, namespace: str, models: str, gateway: str) -> None:  # type: ignore[no-untyped-def]
    """The Collection and the RagPipeline (model-a at ``models`` through ``gateway``) created, reconciled,
    and their Deployments available."""
    collections = custom(kube_api_client, namespace, "collections")
    pipeline = resources["pipeline"]
    pipeline["spec"]["embedding"].update(
        {"gatewayUrl": f"{gateway}/v1", "customHost": models, "model": "model-a"}
    )
    collections.create(resources["collection"])
    custom(kube_api_client, namespace, "ragpipelines").create(pipeline)
    wait_for(
        lambda: condition(collections.get(resources["collection"]["metadata"]["name"]), "Ready"),
        what="the Collection reconciled",
    )
    wait_for(lambda: pod_environment(kube_api_client, namespace, "docs-embedder"), what="the embedder's pod")
    deployments_available(kube_api_client, namespace)


def test_a_model_change_shows_reindexing_then_ready_with_the_new_generation(
    operator,
    resources,
    kube_api_client,
    namespace: str,
    connector: LocalStoreConnector,
    portkey_gateway: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    pipelines = custom(kube_api_client, namespace, "ragpipelines")
    with ModelsServer(DIMENSION, ["model-a", "model-b"]) as models:
        embedder = "docs-embedder"
        pipeline_on_model_a(resources, kube_api_client, namespace, models.url, portkey_gateway)
        with embedding_engine(
            pod_environment(kube_api_client, namespace, embedder, tmp_path / "a"), connector, monkeypatch
        ) as a:
            for n in range(6):
                text = (
                    f"# Runbook {n}\n\nStep {n} restarts the ingest workers of region {n} after a failover."
                )
                a.ingest.ingest(IncomingDocument(f"runbook-{n}", text, "test"))
            a.drain()
            assert a.worker is not None and a.worker.run_once() is not None  # generation 1 registered
        ready = wait_for(
            lambda: (
                ((p := pipelines.get("docs")).get("status") or {}).get("liveGeneration") == 1
                and (c := condition(p, "Ready")) is not None
                and c["status"] == "True"
            ),
            what="the pipeline Ready on generation 1",
        )
        assert ready

        reindex = faro_cli(
            "reindex", "--pipeline", "docs", "-n", namespace, "--model", "model-b", "--interval", "0.5"
        )
        wait_for(
            lambda: (
                pod_environment(kube_api_client, namespace, embedder)["FARO_EMBEDDING__MODEL"] == "model-b"
            ),
            what="the new model in the embedder's settings",
        )
        deployments_available(kube_api_client, namespace)  # the rolled pods are ready
        with embedding_engine(
            pod_environment(kube_api_client, namespace, embedder, tmp_path / "b"), connector, monkeypatch
        ) as b:
            assert b.worker is not None
            plan = b.worker.controller.reconcile()  # the first thing the new pods' generations thread does
            assert plan.generation == 2
            reindexing = wait_for(
                lambda: (c := condition(pipelines.get("docs"), "Reindexing")) and c["status"] == "True" and c,
                what="Reindexing while generation 2 builds",
            )
            assert reindexing["message"].startswith("generation 2 builds: 0 of 6 documents")
            assert pipelines.get("docs")["status"]["liveGeneration"] == 1

            report = b.worker.run_once()

            assert report is not None and report.promoted == 2, report
            view = b.live.refresh()
            answer = view.retriever.query("restarts the ingest workers of region 4", 3, None, Backend.AUTO)
            assert {hit.model for hit in answer.hits} == {"model-b"}
        out, err = reindex.communicate(timeout=120)
        assert reindex.returncode == 0, err
        assert "generation 2 is live: openai:model-b@384" in out

        status = wait_for(
            lambda: (s := pipelines.get("docs").get("status") or {}).get("liveGeneration") == 2 and s,
            what="generation 2 live in status",
        )
        assert [(g["id"], g["state"]) for g in status["generations"]] == [(1, "Retired"), (2, "Live")]
        assert condition(pipelines.get("docs"), "Reindexing")["status"] == "False"  # type: ignore[index]
        assert condition(pipelines.get("docs"), "Ready")["status"] == "True"  # type: ignore[index]
        assert printed_generation(kube_api_client, namespace, "docs") == "2"
        events = client.CoreV1Api(kube_api_client).list_namespaced_event(namespace).items
        assert any(e.reason == "GenerationLive" and "generation 2" in (e.message or "") for e in events)
        listed = faro_cli("generations", "--pipeline", "docs", "-n", namespace, "--json")
        assert json.loads(listed.communicate(timeout=60)[0])["live"] == 2

        # Rollback: the spec goes back to generation 1's profile, which goes live without an embedding call.
        sent_before = len(models.models["model-a"].sent)
        rollback = faro_cli("generations", "--pipeline", "docs", "-n", namespace, "rollback")
        assert rollback.wait(timeout=60) == 0, rollback.communicate()[1]
        wait_for(
            lambda: (
                pod_environment(kube_api_client, namespace, embedder)["FARO_EMBEDDING__MODEL"] == "model-a"
            ),
            what="the old model back in the embedder's settings",
        )
        with embedding_engine(
            pod_environment(kube_api_client, namespace, embedder, tmp_path / "a2"), connector, monkeypatch
        ) as a:
            assert a.worker is not None and a.worker.run_once() is not None
        wait_for(
            lambda: (pipelines.get("docs").get("status") or {}).get("liveGeneration") == 1,
            what="generation 1 live again",
        )
        assert len(models.models["model-a"].sent) == sent_before
        events = client.CoreV1Api(kube_api_client).list_namespaced_event(namespace).items
        assert any(
            e.reason == "GenerationRolledBack" and "generation 1 is live again" in (e.message or "")
            for e in events
        )
