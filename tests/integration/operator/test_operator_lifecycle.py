"""The operator over the lifetime of its resources, against a real kube-apiserver + etcd with real stores
(PostgreSQL by pgserver, Qdrant in local mode): deletion policies, a restart, an external Qdrant's bridge and
immutable fields, the CronJob's served version, and ``faro operator`` as its own process."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from faro_workloads.contract.generations import GenerationState
from faro_workloads.contract.index_profile import ChunkingIdentity, EmbeddingIdentity, IndexProfile
from faro_workloads.contract.settings import CollectionConfig, PostgresConfig
from faro_workloads.core.stores.postgres import PgVectorStore

from support.faro_process import faro_process
from support.polling import wait_for
from support.running_operator import LocalStoreConnector, condition, custom

pytestmark = pytest.mark.integration


def test_collection_deletion_honours_the_deletion_policy(
    operator,
    resources,
    kube_api_client,
    namespace: str,
    postgres_dsn: str,
    connector: LocalStoreConnector,
    make_chunks,
    make_record,
) -> None:
    import psycopg

    collections = custom(kube_api_client, namespace, "collections")
    retained = copy.deepcopy(resources["collection"])
    retained["metadata"]["name"] = "kept"
    retained["spec"]["deletionPolicy"] = "Retain"
    retained["spec"]["qdrant"]["collectionName"] = (
        resources["collection"]["spec"]["qdrant"]["collectionName"] + "_k"
    )
    for body in (resources["collection"], retained):
        collections.create(body)
    for body in (resources["collection"], retained):
        wait_for(
            lambda n=body["metadata"]["name"]: (
                (c := condition(collections.get(n), "Ready")) and c["status"] == "True"
            ),
            what="Ready",
        )
    schema = resources["collection"]["spec"]["postgres"]["schema"]

    def tables() -> set[str]:
        with psycopg.connect(postgres_dsn) as conn:
            rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)).fetchall()
        return {r[0] for r in rows}

    deleted_name = resources["collection"]["spec"]["qdrant"]["collectionName"]
    kept_name = retained["spec"]["qdrant"]["collectionName"]
    assert {f"{deleted_name}_chunks", f"{kept_name}_chunks"} <= tables()

    # The deleted Collection went through a model change: generation 2 is live, generation 1 retired.
    name = resources["collection"]["metadata"]["name"]
    config = PostgresConfig(dsn=postgres_dsn, schema_name=schema)
    store = PgVectorStore(config, CollectionConfig(name=deleted_name, dimension=384))
    try:
        chunks = make_chunks("doc", 3, dimension=384)
        store.write_document(make_record(chunks), chunks)
        embedding = EmbeddingIdentity(provider="openai", model="m", dimension=384)
        chunking = ChunkingIdentity(strategy="markdown", size=250, overlap=32, tokenizer="chars/4")
        store.register_generation(IndexProfile(embedding=embedding, chunking=chunking), GenerationState.LIVE)
        newer = embedding.model_copy(update={"model": "n"})
        store.register_generation(IndexProfile(embedding=newer, chunking=chunking), GenerationState.BUILDING)
        store.for_generation(2).ensure_chunks_table(with_hnsw=False)
        qdrant = connector.qdrant(deleted_name)
        assert qdrant is not None
        qdrant.for_generation(2).ensure_collection()
        shown = wait_for(
            lambda: (s := collections.get(name).get("status") or {}).get("postgresRows") == 3 and s,
            what="generation 1's rows in status",
        )
        assert shown["liveGeneration"] == 1
        assert store.for_generation(2).promote(require_complete=False) is None
        shown = wait_for(
            lambda: (s := collections.get(name).get("status") or {}).get("liveGeneration") == 2 and s,
            what="the live generation 2 in status",
        )
        assert (shown["postgresRows"], shown["qdrantPoints"]) == (0, 0)  # the counts follow the live one
    finally:
        store.close()

    for body in (resources["collection"], retained):
        collections.delete(body["metadata"]["name"])
    for body in (resources["collection"], retained):
        wait_for(
            lambda n=body["metadata"]["name"]: _gone(collections, n), what="the Collection to be deleted"
        )
    remaining = tables()
    assert f"{deleted_name}_chunks" not in remaining  # Delete: dropped, every generation's
    assert f"{deleted_name}_g2_chunks" not in remaining
    assert f"{kept_name}_chunks" in remaining  # Retain: kept
    assert not connector.qdrant(deleted_name).exists()
    assert not connector.qdrant(deleted_name).for_generation(2).exists()
    assert connector.qdrant(kept_name).exists()


def _gone(resource, name: str) -> bool:  # type: ignore[no-untyped-def]
    try:
        resource.get(name)
    except ApiException as exc:
        return exc.status == 404
    return False


def test_operator_restart_resumes_without_duplicating(
    operator, resources, kube_api_client, namespace: str
) -> None:
    custom(kube_api_client, namespace, "collections").create(resources["collection"])
    custom(kube_api_client, namespace, "ragpipelines").create(resources["pipeline"])
    apps = client.AppsV1Api(kube_api_client)
    wait_for(lambda: len(apps.list_namespaced_deployment(namespace).items) == 3, what="children")
    wait_until_reconciled_again(times=2)  # the state has settled
    before = {
        d.metadata.name: d.metadata.resource_version for d in apps.list_namespaced_deployment(namespace).items
    }
    operator()  # restart
    wait_until_reconciled_again(times=2)  # resumed, and resynced at least once
    after = {
        d.metadata.name: d.metadata.resource_version for d in apps.list_namespaced_deployment(namespace).items
    }
    assert after == before  # same objects, unchanged: server-side apply of identical manifests is a no-op


def wait_until_reconciled_again(times: int) -> None:
    """Poll the operator's own reconcile counter (it runs in this process) until it advanced ``times``."""
    from prometheus_client import REGISTRY

    def total() -> float:
        return sum(
            REGISTRY.get_sample_value("faro_operator_reconciles_total", {"kind": "RagPipeline", "result": r})
            or 0.0
            for r in ("ok", "waiting", "error")
        )

    start = total()
    wait_for(lambda: total() >= start + times, what=f"{times} more RagPipeline reconciles")


def test_external_qdrant_is_bridged_and_immutable_fields_are_protected(
    operator, resources, kube_api, kube_api_client, namespace: str
) -> None:
    collections = custom(kube_api_client, namespace, "collections")
    body = copy.deepcopy(resources["collection"])
    # An address on EC2: nothing listens there in this test, so Qdrant is reported unreachable.
    body["spec"]["qdrant"] = {"external": {"address": "192.0.2.10"}, "collectionName": "bridged"}
    collections.create(body)
    name = body["metadata"]["name"]
    core = client.CoreV1Api(kube_api_client)
    service = wait_for(
        lambda: core.read_namespaced_service(f"{name}-qdrant", namespace), what="the bridge Service"
    )
    assert service.spec.selector is None and {p.port for p in service.spec.ports} == {6333, 6334}
    slice_version = "discovery.k8s.io/v1" if kube_api.version.at_least(1, 21) else "discovery.k8s.io/v1beta1"
    group, version = slice_version.split("/")

    def bridge_slices() -> list[dict]:  # the operator applies the Service, then its EndpointSlice
        slices = client.CustomObjectsApi(kube_api_client).list_namespaced_custom_object(
            group, version, namespace, "endpointslices"
        )["items"]
        return [
            s
            for s in slices
            if s["metadata"]["labels"].get("kubernetes.io/service-name") == service.metadata.name
        ]

    [bridge] = wait_for(bridge_slices, what="the bridge EndpointSlice")
    assert bridge["endpoints"][0]["addresses"] == ["192.0.2.10"]
    status = wait_for(lambda: collections.get(name).get("status"), what="status")
    assert status["qdrantUrl"] == f"http://{service.metadata.name}.{namespace}.svc:6333"

    collections.patch(name, {"spec": {"dimension": 768}})
    spec_valid = wait_for(
        lambda: (
            (c := condition(collections.get(name), "SpecValid"))
            and c["reason"] == "ImmutableFieldChanged"
            and c
        ),
        what="ImmutableFieldChanged",
    )
    assert spec_valid["status"] == "False" and "384" in spec_valid["message"]
    assert condition(collections.get(name), "Ready")["status"] == "False"


def test_cronjob_is_rendered_in_the_served_version_and_events_explain_problems(
    operator, resources, kube_api, kube_api_client, namespace: str
) -> None:
    custom(kube_api_client, namespace, "collections").create(resources["collection"])
    mismatched = copy.deepcopy(resources["pipeline"])
    mismatched["metadata"]["name"] = "wrong-dim"
    mismatched["spec"]["embedding"]["dimension"] = 768
    custom(kube_api_client, namespace, "ragpipelines").create(resources["pipeline"])
    custom(kube_api_client, namespace, "ragpipelines").create(mismatched)
    cron_version = "v1" if kube_api.version.at_least(1, 21) else "v1beta1"
    cronjob = wait_for(
        lambda: client.CustomObjectsApi(kube_api_client).get_namespaced_custom_object(
            "batch", cron_version, namespace, "cronjobs", "docs-consistency"
        ),
        what=f"the CronJob in batch/{cron_version}",
    )
    assert cronjob["spec"]["concurrencyPolicy"] == "Forbid"
    assert cronjob["spec"]["schedule"] == resources["pipeline"]["spec"]["consistency"]["schedule"]
    scheduled = wait_for(
        lambda: condition(
            custom(kube_api_client, namespace, "ragpipelines").get("docs"), "ConsistencyScheduled"
        ),
        what="ConsistencyScheduled",
    )
    assert (
        scheduled["status"] == "True" and "not run yet" in scheduled["message"]
    )  # no controller runs it here

    def event_reasons() -> set[str]:
        events = client.CoreV1Api(kube_api_client).list_namespaced_event(namespace).items
        return {e.reason for e in events if e.involved_object.name == "wrong-dim"}

    wait_for(
        lambda: "DimensionMismatch" in event_reasons(), what="a DimensionMismatch event for kubectl describe"
    )


def test_faro_operator_command_reconciles_with_its_own_login_and_serves_health_and_metrics(
    crds_installed, kube_api, kube_api_client, namespace: str, resources, tmp_path: Path
) -> None:
    """`faro operator` as users run it: a process logging in through the kubeconfig, real store adapters
    (Qdrant at an address where nothing listens: reported, not crashed on)."""
    import httpx

    from faro_workloads.background_server import free_port

    liveness, metrics = free_port(), free_port()
    log = tmp_path / "operator.log"
    body = copy.deepcopy(resources["collection"])
    body["spec"]["qdrant"]["url"] = f"http://127.0.0.1:{free_port()}"
    args = (
        "operator",
        "--namespace",
        namespace,
        "--resync-seconds",
        "2",
        "--liveness",
        f"http://127.0.0.1:{liveness}/healthz",
        "--metrics-port",
        str(metrics),
    )
    with faro_process(*args, log=log, ready_url=f"http://127.0.0.1:{liveness}/healthz", env=kube_api.env()):
        collections = custom(kube_api_client, namespace, "collections")
        collections.create(body)
        name = body["metadata"]["name"]
        qdrant = wait_for(
            lambda: condition(collections.get(name), "QdrantReady"), what=f"status\n{log.read_text()}"
        )
        assert qdrant["status"] == "False" and qdrant["reason"] == "Unreachable"
        assert condition(collections.get(name), "PostgresReady")["status"] == "True"
        text = httpx.get(f"http://127.0.0.1:{metrics}/metrics").text
        assert 'faro_operator_reconciles_total{kind="Collection"' in text
