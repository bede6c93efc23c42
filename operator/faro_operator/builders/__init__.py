"""Pure builders: custom resource spec -> the manifests of its children, as plain dicts.

No API calls, no clocks, no randomness: the same inputs always give the same manifests, so the operator can
apply them idempotently and ``faro render`` can print them. Every child carries the owner's namespace, a
controller ownerReference and the standard labels (:mod:`faro_operator.builders.labels`).
"""

from faro_operator.builders.autoscalers import Autoscalers, build_autoscalers
from faro_operator.builders.children import Children, build_collection_children, build_pipeline_children
from faro_operator.builders.component_env import component_env
from faro_operator.builders.components import Component, component_name, settings_configmap_name
from faro_operator.builders.consistency_cronjob import build_consistency_cronjob
from faro_operator.builders.deployments import build_component_deployment, build_pipeline_deployments
from faro_operator.builders.labels import selector_labels, standard_labels
from faro_operator.builders.naming import child_name, label_value
from faro_operator.builders.network_policy import build_network_policy
from faro_operator.builders.owner import Manifest, Owner
from faro_operator.builders.qdrant_bridge import (
    bridge_service_name,
    build_bridge_endpoint_slice,
    build_bridge_service,
    build_qdrant_bridge,
    resolved_qdrant_url,
)
from faro_operator.builders.rbac import build_consistency_role, build_consistency_role_binding
from faro_operator.builders.resolved_collection import (
    ResolvedCollection,
    resolve_collection,
    resolved_collection_name,
)
from faro_operator.builders.served_kinds import ALL_OPTIONAL_KINDS, KindCatalog, ServedKinds
from faro_operator.builders.service_accounts import build_pipeline_service_accounts, build_service_account
from faro_operator.builders.service_monitors import (
    build_pipeline_service_monitor,
    build_qdrant_service_monitor,
)
from faro_operator.builders.services import (
    build_api_service,
    build_embedder_metrics_service,
    build_pipeline_services,
)
from faro_operator.builders.settings_configmap import (
    CHECKSUM_ANNOTATION,
    build_settings_configmap,
    settings_checksum,
    settings_data,
)

__all__ = [
    "ALL_OPTIONAL_KINDS",
    "CHECKSUM_ANNOTATION",
    "Autoscalers",
    "Children",
    "Component",
    "KindCatalog",
    "Manifest",
    "Owner",
    "ResolvedCollection",
    "ServedKinds",
    "bridge_service_name",
    "build_api_service",
    "build_autoscalers",
    "build_bridge_endpoint_slice",
    "build_bridge_service",
    "build_collection_children",
    "build_component_deployment",
    "build_consistency_cronjob",
    "build_consistency_role",
    "build_consistency_role_binding",
    "build_embedder_metrics_service",
    "build_network_policy",
    "build_pipeline_children",
    "build_pipeline_deployments",
    "build_pipeline_service_accounts",
    "build_pipeline_service_monitor",
    "build_pipeline_services",
    "build_qdrant_bridge",
    "build_qdrant_service_monitor",
    "build_service_account",
    "build_settings_configmap",
    "child_name",
    "component_env",
    "component_name",
    "label_value",
    "resolve_collection",
    "resolved_collection_name",
    "resolved_qdrant_url",
    "selector_labels",
    "settings_checksum",
    "settings_configmap_name",
    "settings_data",
    "standard_labels",
]
