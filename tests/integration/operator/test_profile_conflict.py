"""One Collection, one vector space: on a real kube-apiserver, a second RagPipeline that would fill the same
Collection with another model or chunking is refused (SpecValid False, ProfileConflict) and gets no
children, while one with the same model and chunking is accepted."""

from __future__ import annotations

import copy

import pytest
from kubernetes import client

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
