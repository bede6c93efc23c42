"""What the data APIs need to accept Kubernetes service-account tokens (``spec.access.serviceAccounts``): the
rights to ask the API server two reviews, for the ServiceAccounts of the services that serve the APIs (the
chunking service and the query service), and nothing more.

- A TokenReview (who is this token, for the pipeline's audience) is cluster-scoped: a ClusterRoleBinding
  ``faro:token-review:<namespace>:<pipeline>`` to the ClusterRole :data:`TOKEN_REVIEWER` (``create`` on
  ``tokenreviews`` only). A cluster-scoped object cannot be owned by a namespaced pipeline, so the operator
  deletes it itself when the pipeline is deleted (a finalizer) or stops accepting tokens.
- A LocalSubjectAccessReview (may this identity do this call) is namespaced: a RoleBinding
  ``<pipeline>-access-review`` in the pipeline's namespace to the ClusterRole :data:`ACCESS_REVIEWER`
  (``create`` on ``localsubjectaccessreviews``), so the services can ask about their own namespace only.

Both ClusterRoles are installed with the operator (``operator/deploy/base/access-reviewers.yaml``); the
operator may bind them (``bind`` on these two names) without holding their rights.
"""

from __future__ import annotations

from faro_operator.builders.components import Component, component_name, is_enabled
from faro_operator.builders.labels import object_meta, standard_labels
from faro_operator.builders.naming import child_name, label_value, short_hash
from faro_operator.builders.owner import Manifest, Owner
from faro_operator.specs import RagPipelineSpec
from faro_workloads.contract.api import qualified_key

TOKEN_REVIEWER = "faro-token-reviewer"
ACCESS_REVIEWER = "faro-access-reviewer"
ACCESS = "access"
"""Component label of the review bindings."""
NAMESPACE_LABEL = qualified_key("namespace")
"""Label of the cluster-scoped binding: its pipeline's namespace (``faro.dev/pipeline`` has the name)."""
SERVING = (Component.CHUNKER, Component.QUERY)
RBAC_API = "rbac.authorization.k8s.io"


MAX_CLUSTER_NAME = 253


def token_review_binding_name(owner: Owner) -> str:
    """``faro:token-review:<namespace>:<pipeline>`` (colons cannot occur in either name: no two pipelines
    share it); shortened with a hash beyond 253 characters."""
    name = f"faro:token-review:{owner.namespace}:{owner.name}"
    if len(name) <= MAX_CLUSTER_NAME:
        return name
    return f"{name[: MAX_CLUSTER_NAME - 9]}-{short_hash(name)}"


def reviewing_accounts(owner: Owner, spec: RagPipelineSpec) -> list[dict[str, str]]:
    """The RBAC subjects that ask the reviews: the ServiceAccounts of the enabled serving components."""
    return [
        {
            "kind": "ServiceAccount",
            "name": component_name(owner.name, component),
            "namespace": owner.namespace,
        }
        for component in SERVING
        if is_enabled(spec, component)
    ]


def token_review_binding_labels(owner: Owner) -> dict[str, str]:
    """The labels of the cluster-scoped binding: the pipeline's name and namespace (what says it is ours)."""
    return {**standard_labels(owner, ACCESS), NAMESPACE_LABEL: label_value(owner.namespace)}


def build_token_review_binding(owner: Owner, spec: RagPipelineSpec) -> Manifest:
    """The ClusterRoleBinding that lets the serving components ask TokenReviews (no ownerReference: see the
    module's notes; labelled with the pipeline's name and namespace)."""
    labels = token_review_binding_labels(owner)
    return {
        "apiVersion": f"{RBAC_API}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": token_review_binding_name(owner), "labels": labels},
        "roleRef": {"apiGroup": RBAC_API, "kind": "ClusterRole", "name": TOKEN_REVIEWER},
        "subjects": reviewing_accounts(owner, spec),
    }


def build_access_review_binding(owner: Owner, spec: RagPipelineSpec) -> Manifest:
    """The RoleBinding ``<pipeline>-access-review`` that lets the serving components ask
    LocalSubjectAccessReviews in the pipeline's namespace."""
    return {
        "apiVersion": f"{RBAC_API}/v1",
        "kind": "RoleBinding",
        "metadata": object_meta(owner, child_name(owner.name, "access-review"), ACCESS),
        "roleRef": {"apiGroup": RBAC_API, "kind": "ClusterRole", "name": ACCESS_REVIEWER},
        "subjects": reviewing_accounts(owner, spec),
    }


def reviews_tokens(spec: RagPipelineSpec, component: Component) -> bool:
    """Whether ``component``'s pods review service-account tokens (and so mount their own API token)."""
    return spec.access.accepts_service_accounts and component in SERVING


def build_review_bindings(owner: Owner, spec: RagPipelineSpec) -> list[Manifest]:
    """Both bindings when the pipeline accepts service-account tokens, else none."""
    if not spec.access.accepts_service_accounts:
        return []
    return [build_token_review_binding(owner, spec), build_access_review_binding(owner, spec)]
