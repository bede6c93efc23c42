"""Index generations as the operator shows and guards them, on a real kube-apiserver: one Collection, one
vector space (a second RagPipeline that would fill the same Collection with another model or chunking is
refused with SpecValid False, ProfileConflict, and gets no children; one with the same model and chunking
is accepted), and the pipeline's status lists the Collection's generations with the Reindexing condition."""

from __future__ import annotations

import copy

import pytest
from kubernetes import client

from faro_workloads.contract.generations import CutoverBlock, GenerationState
from faro_workloads.contract.index_profile import ChunkingIdentity, EmbeddingIdentity, IndexProfile
from faro_workloads.contract.settings import CollectionConfig, PostgresConfig
from faro_workloads.core.stores.postgres import PgVectorStore

from support.polling import wait_for
from support.running_operator import condition, custom

pytestmark = pytest.mark.integration


def test_a_second_pipeline_with_another_profile_on_the_same_collection_is_refused(
    operator, resources, kube_api_client, namespace: str
) -> None:
    collections = custom(kube_api_client, namespace, "collections")
    pipelines = custom(kube_api_client, namespace, "ragpipelines")
    collections.create(resources["collection"])
    first = resources["pipeline"]
    pipelines.create(first)
    wait_for(lambda: condition(pipelines.get("docs"), "SpecValid"), what="the first pipeline reconciled")

    other_model = copy.deepcopy(first)
    other_model["metadata"]["name"] = "docs-other-model"
    other_model["spec"]["embedding"]["model"] = "another-model"
    same_profile = copy.deepcopy(first)
    same_profile["metadata"]["name"] = "docs-same-profile"
    pipelines.create(other_model)
    pipelines.create(same_profile)

    refused = wait_for(
        lambda: (
            (c := condition(pipelines.get("docs-other-model"), "SpecValid")) and c["status"] == "False" and c
        ),
        what="the conflicting pipeline refused",
    )
    assert refused["reason"] == "ProfileConflict"
    assert "RagPipeline docs already fills Collection" in refused["message"]
    accepted = wait_for(
        lambda: (
            (c := condition(pipelines.get("docs-same-profile"), "SpecValid")) and c["status"] == "True" and c
        ),
        what="the pipeline with the same profile accepted",
    )
    assert accepted["reason"] == "Valid"
    apps = client.AppsV1Api(kube_api_client)
    names = {d.metadata.name for d in apps.list_namespaced_deployment(namespace).items}
    assert not any(name.startswith("docs-other-model-") for name in names)  # no children
    assert any(name.startswith("docs-same-profile-") for name in names)


def test_the_pipeline_status_shows_the_index_generations_and_reindexing(
    operator, resources, kube_api_client, namespace: str, postgres_dsn: str
) -> None:
    collections = custom(kube_api_client, namespace, "collections")
    pipelines = custom(kube_api_client, namespace, "ragpipelines")
    collections.create(resources["collection"])
    pipelines.create(resources["pipeline"])
    wait_for(
        lambda: "documents" in (pipelines.get("docs").get("status") or {}), what="store counts in status"
    )

    spec = resources["collection"]["spec"]
    store = PgVectorStore(
        PostgresConfig(dsn=postgres_dsn, schema_name=spec["postgres"]["schema"]),
        CollectionConfig(name=spec["qdrant"]["collectionName"], dimension=spec["dimension"]),
    )
    try:
        store.ensure_schema()
        chunking = ChunkingIdentity(strategy="markdown", size=250, overlap=32, tokenizer="chars/4")
        for generation, model, state in (
            (1, "old", GenerationState.LIVE),
            (2, "new", GenerationState.BUILDING),
        ):
            embedding = EmbeddingIdentity(provider="openai", model=model, dimension=spec["dimension"])
            store.register_generation(
                IndexProfile(embedding=embedding, chunking=chunking), state, at=generation
            )
        store.for_generation(2).ensure_chunks_table(with_hnsw=False)

        status = wait_for(
            lambda: (s := pipelines.get("docs").get("status") or {}).get("liveGeneration") == 1 and s,
            what="the generations in status",
        )
        assert [(g["id"], g["state"], g["model"]) for g in status["generations"]] == [
            (1, "Live", f"openai:old@{spec['dimension']}"),
            (2, "Building", f"openai:new@{spec['dimension']}"),
        ]
        reindexing = condition(pipelines.get("docs"), "Reindexing")
        assert reindexing is not None and (reindexing["status"], reindexing["reason"]) == (
            "True",
            "GenerationBuilding",
        )
        assert reindexing["message"] == "generation 2 builds: 0 of 0 documents"
        assert condition(pipelines.get("docs"), "CutoverBlocked")["reason"] == "NotBlocked"  # type: ignore[index]
        store.record_block(2, CutoverBlock.STORES_DISAGREE, "3 points missing from Qdrant")
        blocked = wait_for(
            lambda: (c := condition(pipelines.get("docs"), "CutoverBlocked")) and c["status"] == "True" and c,
            what="the CutoverBlocked condition",
        )
        assert (blocked["reason"], blocked["message"]) == (
            "StoresDisagree",
            "generation 2: 3 points missing from Qdrant",
        )

        # Manual cutover: the annotation records the approval in the registry, for the embedding engine.
        pipelines.patch("docs", {"spec": {"generations": {"cutover": "Manual"}}})
        pipelines.patch("docs", {"metadata": {"annotations": {"faro.dev/approve-generation": "2"}}})
        wait_for(
            lambda: next(g for g in store.generations() if g.id == 2).approved_at is not None,
            what="the approval recorded",
        )
        assert next(g for g in store.generations() if g.id == 1).approved_at is None
    finally:
        store.close()
