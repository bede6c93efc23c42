"""The condition an optional API kind's absence is reported with, on a real kube-apiserver: one name on
both kinds (``OptionalApisReady``), and the name earlier versions wrote on a Collection (``MonitoringReady``)
dropped when the status is next written."""

from __future__ import annotations

import copy

import pytest
from kubernetes import client

from faro_operator import GROUP, VERSION

from support.polling import wait_for
from support.running_operator import condition, custom

pytestmark = pytest.mark.integration


def test_a_collection_reports_unserved_kinds_as_optional_apis_and_drops_the_old_name(
    operator,
    resources,
    kube_api,
    kube_api_client,
    namespace: str,
) -> None:
    if "monitoring.coreos.com/v1" in kube_api.served_group_versions():
        pytest.fail("this test needs a cluster without the Prometheus Operator's ServiceMonitor")
    collections = custom(kube_api_client, namespace, "collections")
    body = copy.deepcopy(resources["collection"])
    # External Qdrant with metrics: its ServiceMonitor is wanted, and this cluster does not serve it.
    body["spec"]["qdrant"] = {"external": {"address": "192.0.2.10", "metrics": True}, "collectionName": "b"}
    collections.create(body)
    name = body["metadata"]["name"]

    optional = wait_for(
        lambda: condition(collections.get(name), "OptionalApisReady"), what="OptionalApisReady"
    )
    assert (optional["status"], optional["reason"]) == ("False", "ApiNotServed")
    assert "ServiceMonitor" in optional["message"]
    assert condition(collections.get(name), "MonitoringReady") is None

    # What an earlier operator version left in the status: the old name of the same finding.
    current = collections.get(name)
    retired = {**optional, "type": "MonitoringReady"}
    client.CustomObjectsApi(kube_api_client).patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        namespace,
        "collections",
        name,
        {"status": {"conditions": [*current["status"]["conditions"], retired]}},
        _content_type="application/merge-patch+json",
    )
    assert condition(collections.get(name), "MonitoringReady") is not None
    wait_for(
        lambda: condition(collections.get(name), "MonitoringReady") is None,
        what="MonitoringReady dropped by the next reconcile",
    )
    assert condition(collections.get(name), "OptionalApisReady")["reason"] == "ApiNotServed"


def test_a_collection_whose_optional_kinds_are_all_served_says_so(
    operator,
    resources,
    kube_api_client,
    namespace: str,
) -> None:
    """True, not absent, when nothing was skipped: a False written before the API was installed (or before
    the spec stopped wanting the kind) turns True at the next reconcile."""
    collections = custom(kube_api_client, namespace, "collections")
    body = copy.deepcopy(resources["collection"])
    body["metadata"]["name"] = "served"
    body["spec"]["qdrant"] = {
        "external": {"address": "192.0.2.10", "metrics": False},  # wants no ServiceMonitor
        "collectionName": "served",
    }
    collections.create(body)
    optional = wait_for(
        lambda: condition(collections.get("served"), "OptionalApisReady"), what="OptionalApisReady"
    )
    assert (optional["status"], optional["reason"], optional["message"]) == (
        "True",
        "AllApisServed",
        "every optional kind is served and was applied",
    )
