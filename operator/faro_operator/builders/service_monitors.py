"""Prometheus Operator ServiceMonitors (``monitoring.coreos.com/v1``) for a pipeline and a Qdrant bridge."""

from __future__ import annotations

import re
from typing import Any

from faro_operator.builders.components import MONITORING
from faro_operator.builders.deployments import HTTP_PORT_NAME, METRICS_PORT_NAME
from faro_operator.builders.labels import COMPONENT, MANAGED_BY, MANAGER, object_meta, owner_label_key
from faro_operator.builders.naming import child_name, label_value
from faro_operator.builders.owner import Manifest, Owner
from faro_operator.builders.qdrant_bridge import BRIDGE, address_type
from faro_operator.builders.qdrant_bridge import HTTP_PORT_NAME as QDRANT_HTTP_PORT_NAME
from faro_operator.specs import CollectionSpec, RagPipelineSpec

SERVICE_MONITOR_API_VERSION = "monitoring.coreos.com/v1"
METRICS_PATH = "/metrics"
SCRAPE_INTERVAL = "30s"


def _owner_relabeling(owner: Owner, target_label: str) -> dict[str, Any]:
    """Copy the owner label of the scraped Service (``faro.dev/pipeline`` or ``faro.dev/collection``) onto
    every series as ``target_label``: the dashboards and alerts select by ``pipeline`` (``collection``), and
    the Prometheus Operator only adds ``namespace``, ``service``, ``pod`` and ``job`` on its own.
    """
    meta_label = "__meta_kubernetes_service_label_" + re.sub(r"[^a-zA-Z0-9_]", "_", owner_label_key(owner))
    return {"action": "replace", "sourceLabels": [meta_label], "targetLabel": target_label}


def _service_monitor(
    owner: Owner, name: str, labels: dict[str, str], selector: dict[str, str], endpoints: list[dict[str, Any]]
) -> Manifest:
    return {
        "apiVersion": SERVICE_MONITOR_API_VERSION,
        "kind": "ServiceMonitor",
        "metadata": object_meta(owner, name, MONITORING, extra_labels=labels),
        "spec": {
            "selector": {"matchLabels": selector},
            "namespaceSelector": {"matchNames": [owner.namespace]},
            "endpoints": endpoints,
        },
    }


def build_pipeline_service_monitor(owner: Owner, spec: RagPipelineSpec) -> Manifest | None:
    """ServiceMonitor ``<pipeline>-metrics``: ``/metrics`` of every pipeline Service (ports ``http`` and
    ``metrics``), labelled with ``spec.monitoring.labels`` so Prometheus picks it up. None when
    ``spec.monitoring.serviceMonitor`` is off.
    """
    if not spec.monitoring.service_monitor:
        return None
    selector = {owner_label_key(owner): label_value(owner.name), MANAGED_BY: MANAGER}
    endpoints = [
        {
            "port": port,
            "path": METRICS_PATH,
            "interval": SCRAPE_INTERVAL,
            "relabelings": [_owner_relabeling(owner, "pipeline")],
        }
        for port in (HTTP_PORT_NAME, METRICS_PORT_NAME)
    ]
    return _service_monitor(
        owner, child_name(owner.name, "metrics"), dict(spec.monitoring.labels), selector, endpoints
    )


def build_qdrant_service_monitor(
    owner: Owner, spec: CollectionSpec, extra_labels: dict[str, str] | None = None
) -> Manifest | None:
    """ServiceMonitor ``<collection>-qdrant``: Qdrant's ``/metrics`` via the bridge Service's ``http`` port.

    None unless the Qdrant is external, at an IP address, with ``metrics`` on: a DNS-name bridge is an
    ExternalName Service, which has no endpoints Prometheus could discover. With an API key, Prometheus sends
    it as a bearer token from the same Secret.
    """
    external = spec.qdrant.external
    if external is None or not external.metrics or address_type(external) is None:
        return None
    endpoint: dict[str, Any] = {
        "port": QDRANT_HTTP_PORT_NAME,
        "path": METRICS_PATH,
        "interval": SCRAPE_INTERVAL,
        "relabelings": [_owner_relabeling(owner, "collection")],
    }
    key = spec.qdrant.api_key_secret_ref
    if key is not None:
        endpoint["authorization"] = {"type": "Bearer", "credentials": {"name": key.name, "key": key.key}}
    selector = {owner_label_key(owner): label_value(owner.name), COMPONENT: BRIDGE}
    return _service_monitor(
        owner, child_name(owner.name, "qdrant"), dict(extra_labels or {}), selector, [endpoint]
    )
