"""All children of a RagPipeline / Collection for the kinds a cluster serves; schema validity; determinism."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from faro_operator.builders import (
    ALL_OPTIONAL_KINDS,
    CHECKSUM_ANNOTATION,
    Children,
    Owner,
    build_collection_children,
    build_pipeline_children,
    settings_checksum,
)
from faro_operator.builders.served_kinds import ServedKinds
from faro_operator.specs import RagPipelineSpec

from support.operator_builders import (
    COLLECTION,
    NAMESPACE,
    PIPELINE,
    assert_service_monitor_shape,
    collection_spec,
    full_pipeline_spec,
    pipeline_spec,
    pod_spec,
    resolved,
    shared_objects,
    validate_strict,
)

NOTHING_OPTIONAL: ServedKinds = frozenset()
OLD_CLUSTER: ServedKinds = frozenset(
    {
        ("batch/v1beta1", "CronJob"),
        ("discovery.k8s.io/v1beta1", "EndpointSlice"),
        ("policy/v1beta1", "PodDisruptionBudget"),
    }
)
MODERN_WITHOUT_PROMETHEUS: ServedKinds = frozenset(
    {("batch/v1", "CronJob"), ("discovery.k8s.io/v1", "EndpointSlice"), ("policy/v1", "PodDisruptionBudget")}
)


@dataclass(frozen=True)
class Catalog:
    """A :class:`KindCatalog` like the operator's discovery result: answers ``serves()``, is no set."""

    pairs: frozenset[tuple[str, str]]

    def serves(self, api_version: str, kind: str) -> bool:
        return (api_version, kind) in self.pairs


def _kinds(children: Children) -> list[tuple[str, str]]:
    return [(m["kind"], m["metadata"]["name"]) for m in children.manifests]


def _pipeline(spec: RagPipelineSpec | None = None, served: ServedKinds = ALL_OPTIONAL_KINDS) -> Children:
    return build_pipeline_children(PIPELINE, spec or full_pipeline_spec(), resolved(), served)


def test_pipeline_children_in_apply_order() -> None:
    manifests, skipped = _pipeline()
    assert skipped == []
    assert _kinds(Children(manifests, skipped)) == [
        ("ServiceAccount", "docs-pipeline-chunker"),
        ("ServiceAccount", "docs-pipeline-embedder"),
        ("ServiceAccount", "docs-pipeline-query"),
        ("ServiceAccount", "docs-pipeline-consistency"),
        ("ClusterRoleBinding", "faro:token-review:team-a:docs-pipeline"),
        ("RoleBinding", "docs-pipeline-access-review"),
        ("Role", "docs-pipeline-consistency"),
        ("RoleBinding", "docs-pipeline-consistency"),
        ("ConfigMap", "docs-pipeline-settings"),
        ("Service", "docs-pipeline-chunker"),
        ("Service", "docs-pipeline-embedder"),
        ("Service", "docs-pipeline-query"),
        ("Deployment", "docs-pipeline-chunker"),
        ("Deployment", "docs-pipeline-embedder"),
        ("Deployment", "docs-pipeline-query"),
        ("CronJob", "docs-pipeline-consistency"),
        ("PodDisruptionBudget", "docs-pipeline-chunker"),
        ("PodDisruptionBudget", "docs-pipeline-embedder"),
        ("PodDisruptionBudget", "docs-pipeline-query"),
        ("NetworkPolicy", "docs-pipeline-ingress"),
        ("ServiceMonitor", "docs-pipeline-metrics"),
    ]


def test_each_component_may_lose_one_pod_at_a_time_and_spreads_across_zones() -> None:
    """A drain never takes a component's every replica at once, yet a one-replica component can be drained;
    pods prefer other zones, then other nodes, without ever staying unscheduled for it."""
    manifests = _pipeline().manifests
    deployments = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Deployment"}
    budgets = [m for m in manifests if m["kind"] == "PodDisruptionBudget"]
    assert {m["metadata"]["name"] for m in budgets} == set(deployments)
    for budget in budgets:
        deployment = deployments[budget["metadata"]["name"]]
        assert budget["apiVersion"] == "policy/v1"
        assert budget["spec"] == {"maxUnavailable": 1, "selector": deployment["spec"]["selector"]}
        template = deployment["spec"]["template"]
        spread = template["spec"]["topologySpreadConstraints"]
        assert [c["topologyKey"] for c in spread] == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
        for constraint in spread:
            assert constraint["whenUnsatisfiable"] == "ScheduleAnyway"
            selected = constraint["labelSelector"]["matchLabels"]
            assert selected.items() <= template["metadata"]["labels"].items()
    old = frozenset({("policy/v1beta1", "PodDisruptionBudget"), ("batch/v1", "CronJob")})
    assert {
        m["apiVersion"] for m in _pipeline(served=old).manifests if m["kind"] == "PodDisruptionBudget"
    } == {"policy/v1beta1"}
    assert "PodDisruptionBudget (policy/v1 or policy/v1beta1)" in _pipeline(served=frozenset()).skipped


PIPELINE_VARIANTS = {
    "full": full_pipeline_spec(),
    "minimal": pipeline_spec(),
    "no-query-no-monitor": pipeline_spec(query={"enabled": False}, monitoring={"serviceMonitor": False}),
}


@pytest.mark.parametrize("variant", sorted(PIPELINE_VARIANTS))
def test_every_pipeline_child_is_schema_valid_and_owned(variant: str) -> None:
    for manifest in _pipeline(PIPELINE_VARIANTS[variant]).manifests:
        if manifest["kind"] == "ServiceMonitor":
            assert_service_monitor_shape(manifest)  # CRD kind: no schema in kubernetes-validate
        else:
            validate_strict(manifest)
        meta = manifest["metadata"]
        if manifest["kind"] == "ClusterRoleBinding":  # cluster-scoped: no owner, labelled with both names
            assert "namespace" not in meta and "ownerReferences" not in meta
            assert meta["labels"]["faro.dev/namespace"] == NAMESPACE
        else:
            assert meta["namespace"] == NAMESPACE
            assert meta["ownerReferences"] == [PIPELINE.reference()]
        assert meta["labels"]["app.kubernetes.io/part-of"] == "faro"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "faro-operator"
        assert meta["labels"]["app.kubernetes.io/instance"] == "docs-pipeline"
        assert meta["labels"]["faro.dev/pipeline"] == "docs-pipeline"
        assert not shared_objects(manifest)


def _network_policy_peers(children: Children) -> list[dict]:
    (policy,) = [m for m in children.manifests if m["kind"] == "NetworkPolicy"]
    return policy["spec"]["ingress"][0]["from"]


def test_network_policy_admits_the_monitoring_namespace_by_default() -> None:
    """Prometheus (kube-prometheus-stack's namespace by default) must reach the metrics ports it scrapes."""
    assert _network_policy_peers(_pipeline(pipeline_spec())) == [
        {"podSelector": {}},
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
    ]


def test_network_policy_namespaces_come_from_the_spec() -> None:
    custom = pipeline_spec(networkPolicy={"ingressNamespaces": ["observability", "ingress-nginx"]})
    assert [peer.get("namespaceSelector") for peer in _network_policy_peers(_pipeline(custom))] == [
        None,
        {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}},
        {"matchLabels": {"kubernetes.io/metadata.name": "observability"}},
    ]
    closed = pipeline_spec(networkPolicy={"ingressNamespaces": []})
    assert _network_policy_peers(_pipeline(closed)) == [{"podSelector": {}}]


def test_network_policy_namespace_must_be_a_namespace_name() -> None:
    with pytest.raises(ValueError, match="ingressNamespaces"):
        pipeline_spec(networkPolicy={"ingressNamespaces": ["Monitoring!"]})


def test_disabled_query_and_monitoring_leave_their_children_out() -> None:
    children = _pipeline(PIPELINE_VARIANTS["no-query-no-monitor"])
    kinds = _kinds(children)
    assert not [k for k in kinds if k[1] == "docs-pipeline-query"]
    assert "ServiceMonitor" not in {kind for kind, _ in kinds}
    assert children.skipped == []  # switched off, not missing


def test_pods_carry_the_checksum_of_the_rendered_configmap() -> None:
    manifests = _pipeline().manifests
    configmap = next(m for m in manifests if m["kind"] == "ConfigMap")
    deployments = [m for m in manifests if m["kind"] == "Deployment"]
    assert len(deployments) == 3
    for deployment in deployments:
        assert deployment["spec"]["template"]["metadata"]["annotations"][
            CHECKSUM_ANNOTATION
        ] == settings_checksum(configmap)


def test_every_referenced_object_is_rendered() -> None:
    manifests = _pipeline().manifests
    names = {(m["kind"], m["metadata"]["name"]) for m in manifests}
    for workload in (m for m in manifests if m["kind"] in ("Deployment", "CronJob")):
        pod = pod_spec(workload)
        assert ("ServiceAccount", pod["serviceAccountName"]) in names
        for source in pod["containers"][0]["envFrom"]:
            assert ("ConfigMap", source["configMapRef"]["name"]) in names


def test_monitoring_without_prometheus_operator_is_reported() -> None:
    children = _pipeline(served=MODERN_WITHOUT_PROMETHEUS)
    assert "ServiceMonitor" not in {kind for kind, _ in _kinds(children)}
    assert children.skipped == ["ServiceMonitor (monitoring.coreos.com/v1)"]


def test_a_kind_catalog_object_works_like_a_set_of_pairs() -> None:
    assert _pipeline(served=Catalog(MODERN_WITHOUT_PROMETHEUS)) == _pipeline(served=MODERN_WITHOUT_PROMETHEUS)
    assert _pipeline(served=Catalog(ALL_OPTIONAL_KINDS)).skipped == []


def test_old_cluster_gets_batch_v1beta1_cronjob() -> None:
    children = _pipeline(served=Catalog(OLD_CLUSTER | {("monitoring.coreos.com/v1", "ServiceMonitor")}))
    cronjob = next(m for m in children.manifests if m["kind"] == "CronJob")
    assert cronjob["apiVersion"] == "batch/v1beta1"
    assert children.skipped == []


def test_cluster_without_cronjobs_reports_the_consistency_check() -> None:
    children = _pipeline(served=NOTHING_OPTIONAL)
    kinds = {kind for kind, _ in _kinds(children)}
    assert "CronJob" not in kinds and "ServiceMonitor" not in kinds
    assert children.skipped == [
        "CronJob (batch/v1 or batch/v1beta1)",
        "PodDisruptionBudget (policy/v1 or policy/v1beta1)",
        "ServiceMonitor (monitoring.coreos.com/v1)",
    ]
    assert "Deployment" in kinds  # core kinds are always rendered


def test_building_twice_gives_equal_children() -> None:
    first, second = _pipeline(), _pipeline()
    assert first == second
    assert build_collection_children(
        COLLECTION, collection_spec(), ALL_OPTIONAL_KINDS
    ) == build_collection_children(COLLECTION, collection_spec(), ALL_OPTIONAL_KINDS)


def test_long_pipeline_name_stays_within_limits() -> None:
    owner = Owner.pipeline("p" * 200, NAMESPACE, "uid-long")
    children = build_pipeline_children(owner, full_pipeline_spec(), resolved(), ALL_OPTIONAL_KINDS)
    assert Counter(_kinds(children)).most_common(1)[0][1] == 1  # no two children of a kind share a name
    for manifest in children.manifests:
        if manifest["kind"] != "ServiceMonitor":
            validate_strict(manifest)
        limit = {"CronJob": 52, "ClusterRoleBinding": 253}.get(manifest["kind"], 63)
        assert len(manifest["metadata"]["name"]) <= limit
        assert all(len(value) <= 63 for value in manifest["metadata"]["labels"].values())
        if manifest["kind"] != "ClusterRoleBinding":
            assert manifest["metadata"]["ownerReferences"][0]["name"] == owner.name  # the full name
    role = next(m for m in children.manifests if m["kind"] == "Role")
    assert role["rules"][0]["resourceNames"] == [owner.name]


# ------------------------------------------------------------------------------------------------ Collection


def test_collection_children_for_an_ipv4_qdrant() -> None:
    children = build_collection_children(COLLECTION, collection_spec(), ALL_OPTIONAL_KINDS)
    assert _kinds(children) == [
        ("Service", "docs-qdrant"),
        ("EndpointSlice", "docs-qdrant"),
        ("ServiceMonitor", "docs-qdrant"),
    ]
    assert children.skipped == []
    for manifest in children.manifests:
        if manifest["kind"] == "ServiceMonitor":
            assert_service_monitor_shape(manifest)
        else:
            validate_strict(manifest)
        assert manifest["metadata"]["ownerReferences"] == [COLLECTION.reference()]


def test_collection_children_on_an_old_cluster_without_prometheus() -> None:
    children = build_collection_children(COLLECTION, collection_spec(), Catalog(OLD_CLUSTER))
    assert [m["apiVersion"] for m in children.manifests] == ["v1", "discovery.k8s.io/v1beta1"]
    assert children.skipped == ["ServiceMonitor (monitoring.coreos.com/v1)"]


def test_collection_without_endpoint_slices_reports_it() -> None:
    children = build_collection_children(COLLECTION, collection_spec(), NOTHING_OPTIONAL)
    assert _kinds(children) == [("Service", "docs-qdrant")]
    assert children.skipped == [
        "EndpointSlice (discovery.k8s.io/v1 or discovery.k8s.io/v1beta1)",
        "ServiceMonitor (monitoring.coreos.com/v1)",
    ]


def test_collection_children_for_a_dns_name_qdrant() -> None:
    spec = collection_spec(qdrant={"external": {"address": "qdrant.example.internal"}})
    for served in (ALL_OPTIONAL_KINDS, NOTHING_OPTIONAL):
        children = build_collection_children(COLLECTION, spec, served)
        assert [(m["kind"], m["spec"]["type"]) for m in children.manifests] == [("Service", "ExternalName")]
        # no EndpointSlice is needed, and an ExternalName Service has no endpoints for a ServiceMonitor
        assert children.skipped == []


def test_collection_with_in_cluster_qdrant_has_no_children() -> None:
    spec = collection_spec(qdrant={"external": None, "url": "http://qdrant.qdrant.svc:6333"})
    assert build_collection_children(COLLECTION, spec, ALL_OPTIONAL_KINDS) == Children([], [])


def test_collection_service_monitor_gets_the_operators_labels() -> None:
    children = build_collection_children(
        COLLECTION, collection_spec(), ALL_OPTIONAL_KINDS, monitor_labels={"release": "kps"}
    )
    monitor = next(m for m in children.manifests if m["kind"] == "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kps"


def test_rendered_children_are_plain_yaml_data() -> None:
    """What `faro render` prints: enums or other objects must not leak into manifests (safe_dump refuses)."""
    import yaml

    from faro_operator.render import modern_cluster, render_children

    examples = Path(__file__).resolve().parents[3] / "examples" / "kubernetes"
    documents = [
        yaml.safe_load((examples / name).read_text()) for name in ("collection.yaml", "ragpipeline.yaml")
    ]
    children = render_children(documents, modern_cluster())
    text = yaml.safe_dump_all(children)
    assert list(yaml.safe_load_all(text)) == children
    assert {c["kind"] for c in children} >= {
        "Deployment",
        "CronJob",
        "ServiceMonitor",
        "EndpointSlice",
        "ConfigMap",
    }
    assert all("ownerReferences" not in c["metadata"] for c in children)  # no uid: the applier owns them
