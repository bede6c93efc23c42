"""The Collection side: the Qdrant bridge (IP or DNS name), its URL, its ServiceMonitor, resolved values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from faro_operator.builders import (
    Owner,
    build_bridge_endpoint_slice,
    build_qdrant_bridge,
    build_qdrant_service_monitor,
    resolve_collection,
    resolved_collection_name,
    resolved_qdrant_url,
)
from faro_workloads.contract.settings import CollectionConfig, Distance

from support.operator_builders import (
    COLLECTION,
    NAMESPACE,
    assert_service_monitor_shape,
    collection_spec,
    validate_strict,
)

IN_CLUSTER = {"external": None, "url": "http://qdrant.qdrant.svc:6333"}


def test_ipv4_address_is_bridged_with_a_service_and_an_endpoint_slice() -> None:
    service, endpoint_slice = build_qdrant_bridge(COLLECTION, collection_spec())
    for manifest in (service, endpoint_slice):
        validate_strict(manifest)
        assert manifest["metadata"]["namespace"] == NAMESPACE
        assert manifest["metadata"]["ownerReferences"] == [COLLECTION.reference()]
        assert manifest["metadata"]["labels"]["faro.dev/collection"] == "docs"
        assert manifest["metadata"]["labels"]["app.kubernetes.io/component"] == "qdrant-bridge"
    assert service["metadata"]["name"] == "docs-qdrant"
    assert service["spec"] == {
        "type": "ClusterIP",
        "ports": [
            {"name": "http", "protocol": "TCP", "port": 6333},
            {"name": "grpc", "protocol": "TCP", "port": 6334},
        ],
    }
    assert "selector" not in service["spec"]
    assert endpoint_slice["apiVersion"] == "discovery.k8s.io/v1"
    assert endpoint_slice["addressType"] == "IPv4"
    assert endpoint_slice["metadata"]["labels"]["kubernetes.io/service-name"] == "docs-qdrant"
    assert endpoint_slice["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"] == "faro-operator"
    assert endpoint_slice["endpoints"] == [{"addresses": ["10.20.30.40"], "conditions": {"ready": True}}]
    assert endpoint_slice["ports"] == service["spec"]["ports"]


def test_a_qdrant_cluster_is_bridged_with_every_node_in_one_slice() -> None:
    spec = collection_spec(
        qdrant={"external": {"peerAddresses": ["10.20.31.41", "10.20.32.42", "10.20.30.40"]}}
    )
    _, endpoint_slice = build_qdrant_bridge(COLLECTION, spec)
    validate_strict(endpoint_slice)
    assert [e["addresses"] for e in endpoint_slice["endpoints"]] == [
        ["10.20.30.40"],  # the address first, each node once
        ["10.20.31.41"],
        ["10.20.32.42"],
    ]


@pytest.mark.parametrize(
    ("external", "message"),
    [
        ({"address": "qdrant.example.com", "peerAddresses": ["10.0.0.2"]}, "must be an IP address"),
        ({"peerAddresses": ["qdrant-2.internal"]}, r"peerAddresses\.0\n.*should match pattern"),  # as the CRD
        ({"peerAddresses": ["fd00::2"]}, "must all be IPv4 or all IPv6"),
    ],
)
def test_cluster_peers_are_ip_addresses_of_the_address_family(external: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        collection_spec(qdrant={"external": external})


def test_custom_ports_are_carried_to_service_slice_and_url() -> None:
    spec = collection_spec(qdrant={"external": {"httpPort": 16333, "grpcPort": 16334}})
    service, endpoint_slice = build_qdrant_bridge(COLLECTION, spec)
    assert [p["port"] for p in service["spec"]["ports"]] == [16333, 16334]
    assert [p["port"] for p in endpoint_slice["ports"]] == [16333, 16334]
    assert resolved_qdrant_url("docs", NAMESPACE, spec) == "http://docs-qdrant.team-a.svc:16333"


def test_ipv6_address_gets_an_ipv6_slice() -> None:
    spec = collection_spec(qdrant={"external": {"address": "2001:db8::10"}})
    _, endpoint_slice = build_qdrant_bridge(COLLECTION, spec)
    validate_strict(endpoint_slice)
    assert endpoint_slice["addressType"] == "IPv6"
    assert endpoint_slice["endpoints"][0]["addresses"] == ["2001:db8::10"]


def test_dns_name_is_bridged_with_an_external_name_service() -> None:
    spec = collection_spec(qdrant={"external": {"address": "qdrant.example.internal"}})
    (service,) = build_qdrant_bridge(COLLECTION, spec)
    validate_strict(service)
    assert service["spec"]["type"] == "ExternalName"
    assert service["spec"]["externalName"] == "qdrant.example.internal"
    assert build_bridge_endpoint_slice(COLLECTION, spec) is None


def test_in_cluster_qdrant_has_no_bridge() -> None:
    spec = collection_spec(qdrant=IN_CLUSTER)
    assert build_qdrant_bridge(COLLECTION, spec) == []
    assert resolved_qdrant_url("docs", NAMESPACE, spec) == "http://qdrant.qdrant.svc:6333"
    assert build_qdrant_service_monitor(COLLECTION, spec) is None


def test_endpoint_slice_for_old_clusters_keeps_the_same_shape() -> None:
    current = build_bridge_endpoint_slice(COLLECTION, collection_spec())
    old = build_bridge_endpoint_slice(COLLECTION, collection_spec(), api_version="discovery.k8s.io/v1beta1")
    assert current is not None and old is not None
    assert old["apiVersion"] == "discovery.k8s.io/v1beta1"
    assert {**old, "apiVersion": "discovery.k8s.io/v1"} == current
    # only fields both versions know
    assert set(old["endpoints"][0]) == {"addresses", "conditions"}
    with pytest.raises(ValueError, match="apiVersion"):
        build_bridge_endpoint_slice(COLLECTION, collection_spec(), api_version="discovery.k8s.io/v2")


def test_bridge_url_is_the_in_cluster_service_name() -> None:
    assert resolved_qdrant_url("docs", NAMESPACE, collection_spec()) == "http://docs-qdrant.team-a.svc:6333"
    long_name = "c" * 100
    url = resolved_qdrant_url(long_name, NAMESPACE, collection_spec())
    host = url.removeprefix("http://").split(".")[0]
    assert len(host) <= 63
    (service, _) = build_qdrant_bridge(Owner.collection(long_name, NAMESPACE, "u"), collection_spec())
    assert service["metadata"]["name"] == host


def test_qdrant_service_monitor_scrapes_the_bridge_with_the_api_key() -> None:
    spec = collection_spec()
    monitor = build_qdrant_service_monitor(COLLECTION, spec, extra_labels={"release": "kps"})
    assert monitor is not None
    assert_service_monitor_shape(monitor)  # not in kubernetes-validate's schemas: checked explicitly
    assert monitor["metadata"]["ownerReferences"] == [COLLECTION.reference()]
    assert monitor["metadata"]["labels"]["release"] == "kps"
    assert monitor["spec"]["endpoints"] == [
        {
            "port": "http",
            "path": "/metrics",
            "interval": "30s",
            "relabelings": [
                {
                    "action": "replace",
                    "sourceLabels": ["__meta_kubernetes_service_label_faro_dev_collection"],
                    "targetLabel": "collection",
                }
            ],
            "authorization": {"type": "Bearer", "credentials": {"name": "qdrant", "key": "api-key"}},
        }
    ]
    (service, _) = build_qdrant_bridge(COLLECTION, spec)
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert "faro.dev/collection" in service["metadata"]["labels"]  # the relabeling's source


def test_qdrant_service_monitor_without_key_metrics_or_ip_address() -> None:
    monitor = build_qdrant_service_monitor(COLLECTION, collection_spec(qdrant={"apiKeySecretRef": None}))
    assert monitor is not None and "authorization" not in monitor["spec"]["endpoints"][0]
    metrics_off = collection_spec(qdrant={"external": {"metrics": False}})
    assert build_qdrant_service_monitor(COLLECTION, metrics_off) is None
    dns_name = collection_spec(qdrant={"external": {"address": "qdrant.example.internal"}})
    assert build_qdrant_service_monitor(COLLECTION, dns_name) is None  # ExternalName: nothing to scrape


@pytest.mark.parametrize(
    ("name", "expected"),
    [("docs", "docs"), ("team-docs-v2", "team_docs_v2"), ("web.docs", "web_docs")],
)
def test_collection_name_defaults_to_the_resource_name(name: str, expected: str) -> None:
    assert resolved_collection_name(name, collection_spec()) == expected


@pytest.mark.parametrize("name", ["1st-docs", "d" * 41, "x" * 253])
def test_unusable_resource_names_give_valid_collection_names(name: str) -> None:
    derived = resolved_collection_name(name, collection_spec())
    CollectionConfig(name=derived)  # the workloads' own identifier rule
    assert resolved_collection_name(name, collection_spec()) == derived
    assert derived != resolved_collection_name(name + "x", collection_spec())


def test_explicit_collection_name_wins() -> None:
    assert resolved_collection_name("docs", collection_spec(qdrant={"collectionName": "kb_v2"})) == "kb_v2"


def test_resolve_collection() -> None:
    resolved = resolve_collection("docs", NAMESPACE, collection_spec())
    assert resolved.collection_name == "docs"
    assert (resolved.dimension, resolved.distance) == (1536, Distance.DOT)
    assert resolved.qdrant_url == "http://docs-qdrant.team-a.svc:6333"
    assert resolved.qdrant_api_key is not None and resolved.qdrant_api_key.name == "qdrant"
    assert (resolved.postgres_dsn.name, resolved.postgres_dsn.key) == ("pg", "dsn")
    assert resolved.postgres_schema == "rag"
