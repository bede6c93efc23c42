"""The operator's install manifests (operator/deploy): valid for Kubernetes 1.34, hardened, least privilege.

The base and the EKS overlay are built with ``kubectl kustomize`` (what ``kubectl apply -k`` applies); the
ClusterRole is checked against what the operator does: every kind the builders render for the examples, the
custom resources kopf watches and patches, and the few reads the reconcilers make.
"""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from faro_operator import GROUP
from faro_operator.render import modern_cluster, render_children
from faro_operator.specs import CollectionSpec, RagPipelineSpec

from support.kustomize import Manifest, kustomize_build

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "operator" / "deploy"
BASE = DEPLOY / "base"
EKS_OVERLAY = DEPLOY / "overlays" / "eks"
CRDS = REPO / "crds"
EXAMPLES = REPO / "examples" / "kubernetes"
EKS_EXAMPLES = EXAMPLES / "eks"
KUBERNETES_VERSION = "1.34"
NAMESPACE = "faro-system"
IMAGE = "ghcr.io/faro-dev/faro-operator:0.1.0"
OPERATOR_UID = 10001

Grant = tuple[str, str, str]  # (apiGroup, resource, verb)

# The kinds the builders render -> (apiGroup, resource) the operator writes with server-side apply.
KIND_RESOURCES: dict[str, tuple[str, str]] = {
    "ConfigMap": ("", "configmaps"),
    "Service": ("", "services"),
    "ServiceAccount": ("", "serviceaccounts"),
    "Deployment": ("apps", "deployments"),
    "CronJob": ("batch", "cronjobs"),
    "Role": ("rbac.authorization.k8s.io", "roles"),
    "RoleBinding": ("rbac.authorization.k8s.io", "rolebindings"),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io", "clusterrolebindings"),
    "NetworkPolicy": ("networking.k8s.io", "networkpolicies"),
    "EndpointSlice": ("discovery.k8s.io", "endpointslices"),
    "ServiceMonitor": ("monitoring.coreos.com", "servicemonitors"),
    "HorizontalPodAutoscaler": ("autoscaling", "horizontalpodautoscalers"),
    "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
    "ScaledObject": ("keda.sh", "scaledobjects"),
    "TriggerAuthentication": ("keda.sh", "triggerauthentications"),
}
# The only children the operator deletes itself (the others go with their owner): an autoscaler left behind
# would fight the Deployment's new replicas or its new autoscaler; the review bindings of a pipeline that no
# longer accepts service-account tokens (the cluster-scoped one has no owner at all).
AUTOSCALER_RESOURCES = (
    ("autoscaling", "horizontalpodautoscalers"),
    ("keda.sh", "scaledobjects"),
    ("keda.sh", "triggerauthentications"),
)
REVIEW_BINDING_RESOURCES = (
    ("rbac.authorization.k8s.io", "rolebindings"),
    ("rbac.authorization.k8s.io", "clusterrolebindings"),
)
OPERATOR_ROLE = "faro-operator"
# The ClusterRoles the operator binds for the services (bind by name) and exactly what each grants.
REVIEW_ROLES: dict[str, set[Grant]] = {
    "faro-token-reviewer": {("authentication.k8s.io", "tokenreviews", "create")},
    "faro-access-reviewer": {("authorization.k8s.io", "localsubjectaccessreviews", "create")},
}
# Server-side apply is a PATCH; the API server also authorizes create when the object does not exist yet.
APPLY_VERBS = ("create", "patch")

# What the operator does besides applying children (see the comments in base/clusterrole.yaml).
OPERATOR_GRANTS: set[Grant] = {
    # kopf watches both kinds and patches annotations/finalizers on them.
    *(
        (GROUP, plural, verb)
        for plural in ("collections", "ragpipelines")
        for verb in ("list", "watch", "patch")
    ),
    # kopf patches status through the status subresource.
    (GROUP, "collections/status", "patch"),
    (GROUP, "ragpipelines/status", "patch"),
    # pipeline_reconcile._read_collection.
    (GROUP, "collections", "get"),
    # collection_stores.SecretReader.
    ("", "secrets", "get"),
    # pipeline_reconcile._component_conditions reads the component Deployments.
    ("apps", "deployments", "get"),
    # kopf.info / kopf.warn and kopf's own events.
    ("", "events", "create"),
    # pipeline_reconcile._autoscalers deletes the autoscalers it made that a component no longer wants.
    *((group, resource, verb) for group, resource in AUTOSCALER_RESOURCES for verb in ("get", "delete")),
    # access_bindings.remove_review_bindings: the same for the services' review bindings.
    *((group, resource, verb) for group, resource in REVIEW_BINDING_RESOURCES for verb in ("get", "delete")),
    # the review bindings name the two review ClusterRoles, which the operator may bind (resourceNames).
    ("rbac.authorization.k8s.io", "clusterroles", "bind"),
}
# Granted for the framework, not for a code path of Faro's own (documented in the ClusterRole).
FRAMEWORK_GRANTS: set[Grant] = {
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
    (GROUP, "collections/finalizers", "update"),
    (GROUP, "ragpipelines/finalizers", "update"),
}


def load_yaml_documents(*paths: Path) -> list[Manifest]:
    return [doc for path in paths for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def operator_role(objects: tuple[Manifest, ...]) -> Manifest:
    """The operator's own ClusterRole among the install's ClusterRoles."""
    (role,) = [o for o in objects if o["kind"] == "ClusterRole" and o["metadata"]["name"] == OPERATOR_ROLE]
    return role


def only(objects: tuple[Manifest, ...], kind: str) -> Manifest:
    matches = [obj for obj in objects if obj["kind"] == kind]
    assert len(matches) == 1, f"expected exactly one {kind}, found {len(matches)}"
    return matches[0]


def granted(cluster_role: Manifest) -> set[Grant]:
    """Every (apiGroup, resource, verb) a ClusterRole grants (no resourceNames in it: checked elsewhere)."""
    return {
        (group, resource, verb)
        for rule in cluster_role["rules"]
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule["verbs"]
    }


def role_grants(role: Manifest) -> set[Grant]:
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def rendered_children() -> list[Manifest]:
    children: list[Manifest] = []
    for directory in (EXAMPLES, EKS_EXAMPLES):
        documents = load_yaml_documents(*sorted(directory.glob("*.yaml")))
        children += render_children(
            documents, modern_cluster(service_monitors=True, keda=directory == EKS_EXAMPLES)
        )
    return children


BUILDS = pytest.mark.parametrize("directory", [BASE, EKS_OVERLAY], ids=["base", "overlay-eks"])


@BUILDS
def test_every_object_is_valid_for_kubernetes_1_34(directory: Path) -> None:
    objects = kustomize_build(directory)
    assert objects
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@BUILDS
def test_the_install_holds_the_expected_objects(directory: Path) -> None:
    kinds = sorted(obj["kind"] for obj in kustomize_build(directory))
    expected = [
        "ClusterRole",
        "ClusterRole",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "CustomResourceDefinition",
        "Deployment",
        "Namespace",
        "Service",
        "ServiceAccount",
    ]
    if directory == EKS_OVERLAY:
        expected = sorted([*expected, "ConfigMap"])
    assert kinds == expected
    assert only(kustomize_build(directory), "Namespace")["metadata"]["name"] == NAMESPACE
    for obj in kustomize_build(directory):
        if obj["kind"] not in {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}:
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["metadata"]["name"]


@BUILDS
def test_the_crds_are_exactly_those_in_crds_dir(directory: Path) -> None:
    built = {
        obj["metadata"]["name"]: obj
        for obj in kustomize_build(directory)
        if obj["kind"] == "CustomResourceDefinition"
    }
    committed = {
        doc["metadata"]["name"]: doc for doc in load_yaml_documents(*sorted(CRDS.glob("faro.dev_*.yaml")))
    }
    assert set(committed) == {f"collections.{GROUP}", f"ragpipelines.{GROUP}"}
    assert built == committed


@BUILDS
def test_the_operator_pod_is_hardened(directory: Path) -> None:
    deployment = only(kustomize_build(directory), "Deployment")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"]["type"] == "Recreate"  # standalone kopf: never two at once
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == only(kustomize_build(directory), "ServiceAccount")["metadata"]["name"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod.get("hostNetwork", False) is False and pod.get("hostPID", False) is False
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    assert container["args"] == ["--liveness", "http://0.0.0.0:8080/healthz", "--metrics-port", "9090"]
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == OPERATOR_UID
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security.get("privileged", False) is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"healthz": 8080, "metrics": 9090}
    for probe in (container["livenessProbe"], container["readinessProbe"]):
        assert probe["httpGet"]["path"] == "/healthz"
        assert ports[probe["httpGet"]["port"]] == 8080
    for section in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][section])
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]


@BUILDS
def test_the_metrics_service_selects_the_operator_pod(directory: Path) -> None:
    objects = kustomize_build(directory)
    service, deployment = only(objects, "Service"), only(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert port["port"] == 9090 and port["targetPort"] == "metrics"


@BUILDS
def test_the_cluster_role_is_bound_to_the_operator_service_account(directory: Path) -> None:
    objects = kustomize_build(directory)
    binding, role = only(objects, "ClusterRoleBinding"), operator_role(objects)
    account = only(objects, "ServiceAccount")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]
    assert "annotations" not in account["metadata"]  # the operator needs no cloud identity (no IRSA)


def test_the_cluster_role_covers_every_kind_the_builders_render() -> None:
    grants = granted(operator_role(kustomize_build(BASE)))
    children = rendered_children()
    kinds = {child["kind"] for child in children}
    assert kinds <= set(KIND_RESOURCES), f"kinds without a resource mapping: {kinds - set(KIND_RESOURCES)}"
    assert kinds == set(KIND_RESOURCES), "the examples no longer render every kind: extend them or the map"
    for kind in kinds:
        group, resource = KIND_RESOURCES[kind]
        for verb in APPLY_VERBS:
            assert (group, resource, verb) in grants, (
                f"{kind}: {verb} on {group or 'core'}/{resource} missing"
            )
    assert grants >= OPERATOR_GRANTS, f"missing: {sorted(OPERATOR_GRANTS - grants)}"


def test_the_operator_holds_every_permission_of_the_roles_it_creates() -> None:
    """RBAC escalation prevention: a Role may only grant what its creator holds (no ``escalate``/``bind``)."""
    grants = granted(operator_role(kustomize_build(BASE)))
    roles = [child for child in rendered_children() if child["kind"] == "Role"]
    assert roles
    for role in roles:
        assert role_grants(role) <= grants, (
            f"{role['metadata']['name']}: {sorted(role_grants(role) - grants)}"
        )


def test_the_review_roles_grant_the_two_reviews_and_the_bindings_name_only_them() -> None:
    """The services get exactly a TokenReview and a LocalSubjectAccessReview; each binding the operator
    renders names either a Role it renders (held: above) or one of the review ClusterRoles it may bind."""
    roles = {
        o["metadata"]["name"]: o
        for o in kustomize_build(BASE)
        if o["kind"] == "ClusterRole" and o["metadata"]["name"] != OPERATOR_ROLE
    }
    assert {name: granted(role) for name, role in roles.items()} == REVIEW_ROLES
    rendered = rendered_children()
    own_roles = {child["metadata"]["name"] for child in rendered if child["kind"] == "Role"}
    for binding in (child for child in rendered if child["kind"] in ("RoleBinding", "ClusterRoleBinding")):
        ref = binding["roleRef"]
        if ref["kind"] == "Role":
            assert ref["name"] in own_roles
        else:
            assert ref["name"] in REVIEW_ROLES, binding["metadata"]["name"]
            assert binding["kind"] == "RoleBinding" or ref["name"] == "faro-token-reviewer"


def test_the_cluster_role_grants_exactly_what_the_operator_uses() -> None:
    grants = granted(operator_role(kustomize_build(BASE)))
    needed = {(group, resource, verb) for group, resource in KIND_RESOURCES.values() for verb in APPLY_VERBS}
    needed |= OPERATOR_GRANTS | FRAMEWORK_GRANTS
    needed |= {
        grant for child in rendered_children() if child["kind"] == "Role" for grant in role_grants(child)
    }
    assert grants == needed, f"extra: {sorted(grants - needed)}; missing: {sorted(needed - grants)}"


def test_the_cluster_role_has_no_wildcards_and_reads_secrets_only() -> None:
    role = operator_role(kustomize_build(BASE))
    for rule in role["rules"]:
        if "bind" in rule["verbs"]:  # the one named exception: binding the review roles, and nothing else
            assert rule == {
                "apiGroups": ["rbac.authorization.k8s.io"],
                "resources": ["clusterroles"],
                "resourceNames": sorted(REVIEW_ROLES, reverse=True),
                "verbs": ["bind"],
            }
            continue
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, rule  # no nonResourceURLs, no resourceNames
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], rule
        assert not any("*" in resource for resource in rule["resources"]), rule
        assert not {"escalate", "bind", "impersonate", "deletecollection"} & set(rule["verbs"]), rule
    deletable = {(group, resource) for group, resource, verb in granted(role) if verb == "delete"}
    assert deletable == set(AUTOSCALER_RESOURCES) | set(REVIEW_BINDING_RESOURCES)
    secret_verbs = {verb for group, resource, verb in granted(role) if (group, resource) == ("", "secrets")}
    assert secret_verbs and secret_verbs <= {"get", "list", "watch"}


def test_the_eks_overlay_records_the_terraform_outputs_the_examples_use() -> None:
    objects = kustomize_build(EKS_OVERLAY)
    outputs = only(objects, "ConfigMap")
    assert (outputs["metadata"]["name"], outputs["metadata"]["namespace"]) == (
        "faro-terraform-outputs",
        NAMESPACE,
    )
    data = outputs["data"]
    collection, pipeline = load_yaml_documents(
        EKS_EXAMPLES / "collection.yaml", EKS_EXAMPLES / "ragpipeline.yaml"
    )
    assert collection["spec"]["qdrant"]["external"]["address"] == data["QDRANT_PRIVATE_IP"] == "10.0.20.10"
    source = pipeline["spec"]["source"]
    assert source["bucket"] == data["CHUNKS_BUCKET"]
    assert source["queueUrl"] == data["CHUNK_EVENTS_QUEUE_URL"]
    assert source["deadLetterQueueUrl"] == data["CHUNK_EVENTS_DLQ_URL"]
    assert source["region"] == data["AWS_REGION"]
    assert pipeline["spec"]["chunker"]["serviceAccountRoleArn"] == data["CHUNKER_ROLE_ARN"]
    assert pipeline["spec"]["embedder"]["serviceAccountRoleArn"] == data["EMBEDDER_ROLE_ARN"]
    assert {"CLUSTER_NAME", "RDS_ENDPOINT"} <= set(data)
    limits = only(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"cpu": "2", "memory": "768Mi"}  # the overlay's patch applied


def test_the_eks_examples_validate_against_the_spec_models() -> None:
    collection, pipeline = load_yaml_documents(
        EKS_EXAMPLES / "collection.yaml", EKS_EXAMPLES / "ragpipeline.yaml"
    )
    assert (collection["kind"], pipeline["kind"]) == ("Collection", "RagPipeline")
    collection_spec = CollectionSpec.model_validate(collection["spec"])
    pipeline_spec = RagPipelineSpec.model_validate(pipeline["spec"])
    assert pipeline_spec.collection_ref.name == collection["metadata"]["name"]
    assert pipeline_spec.embedding.dimension == collection_spec.dimension
    assert collection["metadata"]["namespace"] == pipeline["metadata"]["namespace"]
    assert pipeline_spec.chunker.service_account_role_arn and pipeline_spec.embedder.service_account_role_arn
