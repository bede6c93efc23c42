"""Which API kinds the cluster serves, so optional children are created only where they can exist."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kubernetes.client import ApiClient

log = logging.getLogger(__name__)

# Optional kinds and the versions the operator can render, most preferred first.
CRONJOB_VERSIONS = ("batch/v1", "batch/v1beta1")
ENDPOINTSLICE_VERSIONS = ("discovery.k8s.io/v1", "discovery.k8s.io/v1beta1")
SERVICEMONITOR_VERSIONS = ("monitoring.coreos.com/v1",)


@dataclass(frozen=True)
class ServedKinds:
    """(apiVersion, kind) pairs the API server serves."""

    pairs: frozenset[tuple[str, str]]

    def serves(self, api_version: str, kind: str) -> bool:
        return (api_version, kind) in self.pairs

    def first_served(self, kind: str, versions: tuple[str, ...]) -> str | None:
        """The first of ``versions`` in which ``kind`` is served, or None."""
        return next((v for v in versions if self.serves(v, kind)), None)


def discover_served_kinds(api: ApiClient) -> ServedKinds:
    """Ask API discovery for every group version's kinds (subresources excluded)."""
    pairs: set[tuple[str, str]] = set()
    core = api.call_api("/api/v1", "GET", response_type="object", _return_http_data_only=True)
    pairs |= {("v1", r["kind"]) for r in core.get("resources", []) if "/" not in r["name"]}
    groups = api.call_api("/apis", "GET", response_type="object", _return_http_data_only=True)
    for group in groups.get("groups", []):
        for version in group.get("versions", []):
            group_version = version["groupVersion"]
            try:
                listing = api.call_api(
                    f"/apis/{group_version}", "GET", response_type="object", _return_http_data_only=True
                )
            except Exception as exc:  # an aggregated API that is down must not hide the others
                log.warning("discovery of %s failed: %s", group_version, exc)
                continue
            pairs |= {
                (group_version, r["kind"]) for r in listing.get("resources", []) if "/" not in r["name"]
            }
    return ServedKinds(frozenset(pairs))
