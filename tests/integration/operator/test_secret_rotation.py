"""A rotated Secret that the pods read at start (the PostgreSQL DSN, a model key) rolls exactly the pods that
read it, within a resync of the operator: on a real kube-apiserver."""

from __future__ import annotations

import base64

import pytest
from kubernetes import client

from support.polling import wait_for
from support.running_operator import custom

pytestmark = pytest.mark.integration

ANNOTATION = "faro.dev/secrets-checksum"


def test_a_rotated_secret_rolls_the_pods_that_read_it(
    operator, resources, kube_api_client, namespace: str
) -> None:
    apps, core = client.AppsV1Api(kube_api_client), client.CoreV1Api(kube_api_client)
    custom(kube_api_client, namespace, "collections").create(resources["collection"])
    pipeline = resources["pipeline"]
    # the query service's key in a Secret of its own: rotating it must roll the query service only
    core.create_namespaced_secret(
        namespace, client.V1Secret(metadata=client.V1ObjectMeta(name="query-key"), data={"key": _b64("one")})
    )
    pipeline["spec"]["query"]["authSecretRef"] = {"name": "query-key", "key": "key"}
    custom(kube_api_client, namespace, "ragpipelines").create(pipeline)

    def checksums() -> dict[str, str] | None:
        found = {
            d.metadata.name: (d.spec.template.metadata.annotations or {}).get(ANNOTATION)
            for d in apps.list_namespaced_deployment(namespace).items
        }
        return found if len(found) == 3 and all(found.values()) else None

    before = wait_for(checksums, what="3 Deployments with a secrets checksum")
    core.patch_namespaced_secret("query-key", namespace, {"data": {"key": _b64("two")}})
    after_key = wait_for(
        lambda: (c := checksums()) and c != before and c, what="a roll after the key rotation"
    )
    assert {name for name in before if after_key[name] != before[name]} == {"docs-query"}

    # the stores Secret holds the DSN every component reads (and the model key): all of them roll
    core.patch_namespaced_secret("stores", namespace, {"data": {"api-key": _b64("rotated")}})
    # (the operator applies the Deployments one after the other: wait for the last one)
    after_dsn = wait_for(
        lambda: (c := checksums()) and all(c[name] != after_key[name] for name in before) and c,
        what="every Deployment rolled after the rotation",
    )
    assert set(after_dsn) == set(before)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
