"""The Qdrant bridge of a Collection whose Qdrant runs outside the cluster (e.g. on EC2).

An IP address is bridged with a selector-less Service plus an EndpointSlice pointing at it; a DNS name
with an ``ExternalName`` Service (a CNAME, no EndpointSlice). Either way the workloads reach Qdrant at the
stable in-cluster name ``<collection>-qdrant.<namespace>.svc`` (:func:`resolved_qdrant_url`).
"""

from __future__ import annotations

import ipaddress

from faro_operator.builders.labels import object_meta
from faro_operator.builders.naming import child_name
from faro_operator.builders.owner import Manifest, Owner
from faro_operator.specs import CollectionSpec, ExternalQdrant

BRIDGE = "qdrant-bridge"
"""Component label of the bridge's Service and EndpointSlice."""
HTTP_PORT_NAME = "http"
GRPC_PORT_NAME = "grpc"

ENDPOINTSLICE_V1 = "discovery.k8s.io/v1"
ENDPOINTSLICE_V1BETA1 = "discovery.k8s.io/v1beta1"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
ENDPOINTSLICE_MANAGED_BY = "endpointslice.kubernetes.io/managed-by"


def bridge_service_name(collection: str) -> str:
    """Name of the bridge Service (and of its EndpointSlice)."""
    return child_name(collection, "qdrant")


def address_type(external: ExternalQdrant) -> str | None:
    """``IPv4``/``IPv6`` when the external address is an IP address, None when it is a DNS name."""
    try:
        ip = ipaddress.ip_address(external.address)
    except ValueError:
        return None
    return "IPv4" if ip.version == 4 else "IPv6"


def resolved_qdrant_url(collection: str, namespace: str, spec: CollectionSpec) -> str:
    """The URL the workloads use for Qdrant: ``spec.qdrant.url``, or the bridge Service's in-cluster URL."""
    if spec.qdrant.url is not None:
        return spec.qdrant.url
    external = _external(spec)
    return f"http://{bridge_service_name(collection)}.{namespace}.svc:{external.http_port}"


def _external(spec: CollectionSpec) -> ExternalQdrant:
    if spec.qdrant.external is None:
        raise ValueError("the Collection's Qdrant is in the cluster (spec.qdrant.url): there is no bridge")
    return spec.qdrant.external


def _ports(external: ExternalQdrant) -> list[dict[str, object]]:
    return [
        {"name": HTTP_PORT_NAME, "protocol": "TCP", "port": external.http_port},
        {"name": GRPC_PORT_NAME, "protocol": "TCP", "port": external.grpc_port},
    ]


def build_bridge_service(owner: Owner, spec: CollectionSpec) -> Manifest:
    """The bridge Service: selector-less ClusterIP for an IP address, ``ExternalName`` for a DNS name.

    Its ports carry the external Qdrant's port numbers, so the same URL works for both kinds: an
    ExternalName Service is only a DNS alias and cannot remap ports.
    """
    external = _external(spec)
    service_spec: dict[str, object]
    if address_type(external) is None:
        service_spec = {"type": "ExternalName", "externalName": external.address, "ports": _ports(external)}
    else:
        service_spec = {"type": "ClusterIP", "ports": _ports(external)}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(owner, bridge_service_name(owner.name), BRIDGE),
        "spec": service_spec,
    }


def build_bridge_endpoint_slice(
    owner: Owner, spec: CollectionSpec, api_version: str = ENDPOINTSLICE_V1
) -> Manifest | None:
    """The EndpointSlice giving the selector-less bridge Service its endpoints (the address, and every peer
    of a Qdrant cluster); None for a DNS name.

    Only fields valid in both ``discovery.k8s.io/v1`` and ``v1beta1`` are used (no topology, nodeName or
    zone), so ``api_version`` may be either. ``endpointslice.kubernetes.io/managed-by`` keeps the
    cluster's EndpointSlice controller away from it.
    """
    if api_version not in (ENDPOINTSLICE_V1, ENDPOINTSLICE_V1BETA1):
        raise ValueError(f"unsupported EndpointSlice apiVersion {api_version!r}")
    external = _external(spec)
    kind = address_type(external)
    if kind is None:
        return None
    service = bridge_service_name(owner.name)
    meta = object_meta(
        owner,
        service,
        BRIDGE,
        extra_labels={SERVICE_NAME_LABEL: service, ENDPOINTSLICE_MANAGED_BY: "faro-operator"},
    )
    return {
        "apiVersion": api_version,
        "kind": "EndpointSlice",
        "metadata": meta,
        "addressType": kind,
        "endpoints": [
            {"addresses": [str(ipaddress.ip_address(address))], "conditions": {"ready": True}}
            for address in dict.fromkeys([external.address, *external.peer_addresses])
        ],
        "ports": _ports(external),
    }


def build_qdrant_bridge(
    owner: Owner, spec: CollectionSpec, endpoint_slice_api_version: str = ENDPOINTSLICE_V1
) -> list[Manifest]:
    """The bridge of an external Qdrant: its Service, plus the EndpointSlice when the address is an IP.

    Empty when the Collection's Qdrant is in the cluster (``spec.qdrant.url``).
    """
    if spec.qdrant.external is None:
        return []
    slice_ = build_bridge_endpoint_slice(owner, spec, endpoint_slice_api_version)
    return [build_bridge_service(owner, spec), *([slice_] if slice_ is not None else [])]
