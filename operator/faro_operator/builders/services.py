"""The pipeline's Services: the chunker and query APIs, and the embedder's metrics endpoint."""

from __future__ import annotations

from faro_operator.builders.components import Component, component_name, is_enabled
from faro_operator.builders.deployments import HTTP_PORT_NAME, METRICS_PORT, METRICS_PORT_NAME
from faro_operator.builders.labels import object_meta, selector_labels
from faro_operator.builders.owner import Manifest, Owner
from faro_operator.specs import RagPipelineSpec

API_SERVICE_PORT = 80


def build_api_service(owner: Owner, component: Component) -> Manifest:
    """ClusterIP Service ``<pipeline>-<component>`` of an HTTP API: port 80 (``http``) -> container port."""
    if component not in (Component.CHUNKER, Component.QUERY):
        raise ValueError(f"{component} serves no HTTP API")
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(owner, component_name(owner.name, component), component.value),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(owner, component.value),
            "ports": [
                {
                    "name": HTTP_PORT_NAME,
                    "protocol": "TCP",
                    "port": API_SERVICE_PORT,
                    "targetPort": HTTP_PORT_NAME,
                }
            ],
        },
    }


def build_embedder_metrics_service(owner: Owner) -> Manifest:
    """Headless Service ``<pipeline>-embedder`` exposing the embedder's ``metrics`` port (9090) to scrape.

    Headless: nothing calls the embedder through a virtual IP; the ServiceMonitor only needs its endpoints.
    """
    component = Component.EMBEDDER
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(owner, component_name(owner.name, component), component.value),
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "None",
            "selector": selector_labels(owner, component.value),
            "ports": [
                {
                    "name": METRICS_PORT_NAME,
                    "protocol": "TCP",
                    "port": METRICS_PORT,
                    "targetPort": METRICS_PORT_NAME,
                }
            ],
        },
    }


def build_pipeline_services(owner: Owner, spec: RagPipelineSpec) -> list[Manifest]:
    """The chunker API Service, the embedder metrics Service, and the query API Service when enabled."""
    services = [build_api_service(owner, Component.CHUNKER), build_embedder_metrics_service(owner)]
    if is_enabled(spec, Component.QUERY):
        services.append(build_api_service(owner, Component.QUERY))
    return services
