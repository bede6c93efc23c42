"""All children of a RagPipeline or a Collection for a given cluster: what the operator applies and
``faro render`` prints.

Core kinds (ConfigMap, Deployment, Service, ServiceAccount, Role, RoleBinding, ClusterRoleBinding,
NetworkPolicy) exist in every supported cluster. The optional ones are rendered in the newest version the
cluster serves, or skipped and reported: ServiceMonitor (needs the Prometheus Operator), CronJob
(``batch/v1``, else ``batch/v1beta1``), EndpointSlice (``discovery.k8s.io/v1``, else ``v1beta1``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from faro_operator.builders.access_rbac import build_review_bindings
from faro_operator.builders.autoscalers import build_autoscalers
from faro_operator.builders.consistency_cronjob import build_consistency_cronjob
from faro_operator.builders.deployments import build_pipeline_deployments
from faro_operator.builders.disruption import build_disruption_budgets
from faro_operator.builders.network_policy import build_network_policy
from faro_operator.builders.owner import Manifest, Owner
from faro_operator.builders.qdrant_bridge import (
    address_type,
    build_bridge_endpoint_slice,
    build_bridge_service,
)
from faro_operator.builders.rbac import build_consistency_role, build_consistency_role_binding
from faro_operator.builders.resolved_collection import ResolvedCollection
from faro_operator.builders.served_kinds import (
    CRONJOB,
    CRONJOB_VERSIONS,
    ENDPOINTSLICE,
    ENDPOINTSLICE_VERSIONS,
    SERVICE_MONITOR,
    SERVICE_MONITOR_VERSIONS,
    ServedKinds,
    preferred_version,
    skipped_kind,
)
from faro_operator.builders.service_accounts import build_pipeline_service_accounts
from faro_operator.builders.service_monitors import (
    build_pipeline_service_monitor,
    build_qdrant_service_monitor,
)
from faro_operator.builders.services import build_pipeline_services
from faro_operator.builders.settings_configmap import build_settings_configmap, settings_checksum
from faro_operator.specs import CollectionSpec, RagPipelineSpec


class Children(NamedTuple):
    """The manifests to apply, in apply order, and the optional kinds left out because the cluster does not
    serve them (e.g. ``"ServiceMonitor (monitoring.coreos.com/v1)"``, for a status condition).

    A tuple, so ``manifests, skipped = build_pipeline_children(...)`` works.
    """

    manifests: list[Manifest]
    skipped: list[str]


def build_pipeline_children(
    owner: Owner,
    spec: RagPipelineSpec,
    collection: ResolvedCollection,
    served: ServedKinds,
    secret_versions: Mapping[str, str] | None = None,
) -> Children:
    """Every child of a RagPipeline: ServiceAccounts, the bindings that let the services review
    service-account tokens (:func:`build_review_bindings`), the consistency Role and RoleBinding, the settings
    ConfigMap, Services, Deployments, the consistency CronJob, the autoscalers of autoscaled components
    (:func:`build_autoscalers`), PodDisruptionBudgets, the NetworkPolicy and the ServiceMonitor.

    ``collection`` is the pipeline's Collection, resolved (:func:`resolve_collection`); ``served`` the
    kinds the cluster serves (:data:`ServedKinds`); ``secret_versions`` the versions of the Secrets the
    pods read at start (:func:`referenced_secrets`: a new version rolls the pods that read it). The
    NetworkPolicy admits the namespaces of ``spec.networkPolicy.ingressNamespaces``
    (:func:`build_network_policy`).
    """
    skipped: list[str] = []
    configmap = build_settings_configmap(owner, spec, collection)
    manifests: list[Manifest] = [
        *build_pipeline_service_accounts(owner, spec),
        *build_review_bindings(owner, spec),
        build_consistency_role(owner),
        build_consistency_role_binding(owner),
        configmap,
        *build_pipeline_services(owner, spec),
        *build_pipeline_deployments(owner, spec, collection, settings_checksum(configmap), secret_versions),
    ]
    cronjob_version = preferred_version(served, CRONJOB, CRONJOB_VERSIONS)
    if cronjob_version is None:
        skipped.append(skipped_kind(CRONJOB, CRONJOB_VERSIONS))
    else:
        manifests.append(build_consistency_cronjob(owner, spec, collection, cronjob_version))
    autoscalers = build_autoscalers(owner, spec, served)
    manifests += autoscalers.manifests
    skipped += autoscalers.skipped
    budgets, unserved = build_disruption_budgets(owner, spec, served)
    manifests += budgets
    skipped += unserved
    manifests.append(build_network_policy(owner, spec.network_policy.ingress_namespaces))
    _add_service_monitor(build_pipeline_service_monitor(owner, spec), served, manifests, skipped)
    return Children(manifests, skipped)


def build_collection_children(
    owner: Owner,
    spec: CollectionSpec,
    served: ServedKinds,
    monitor_labels: Mapping[str, str] | None = None,
) -> Children:
    """Every child of a Collection: for an external Qdrant, its bridge (Service, plus an EndpointSlice for
    an IP address) and, for an IP address with ``metrics`` on, the ServiceMonitor scraping it; nothing for
    an in-cluster Qdrant.

    ``monitor_labels`` label the ServiceMonitor so Prometheus selects it (the Collection spec has no
    monitoring labels of its own; the operator passes its configured ones).
    """
    if spec.qdrant.external is None:
        return Children([], [])
    skipped: list[str] = []
    manifests: list[Manifest] = [build_bridge_service(owner, spec)]
    if address_type(spec.qdrant.external) is not None:  # an IP address: the Service needs its endpoint
        slice_version = preferred_version(served, ENDPOINTSLICE, ENDPOINTSLICE_VERSIONS)
        endpoint_slice = build_bridge_endpoint_slice(owner, spec, slice_version) if slice_version else None
        if endpoint_slice is None:
            skipped.append(skipped_kind(ENDPOINTSLICE, ENDPOINTSLICE_VERSIONS))
        else:
            manifests.append(endpoint_slice)
    monitor = build_qdrant_service_monitor(owner, spec, dict(monitor_labels or {}))
    _add_service_monitor(monitor, served, manifests, skipped)
    return Children(manifests, skipped)


def _add_service_monitor(
    monitor: Manifest | None, served: ServedKinds, manifests: list[Manifest], skipped: list[str]
) -> None:
    """A wanted ServiceMonitor joins the manifests where the Prometheus Operator's API is served; otherwise
    it is reported as skipped. ``None`` (not wanted) adds nothing."""
    if monitor is None:
        return
    if preferred_version(served, SERVICE_MONITOR, SERVICE_MONITOR_VERSIONS) is None:
        skipped.append(skipped_kind(SERVICE_MONITOR, SERVICE_MONITOR_VERSIONS))
    else:
        manifests.append(monitor)
