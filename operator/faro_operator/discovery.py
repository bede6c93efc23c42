"""Which API kinds the cluster serves, so optional children are created only where they can exist."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kubernetes.client import ApiClient, ApisApi, CoreV1Api, CustomObjectsApi

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServedKinds:
    """(apiVersion, kind) pairs the API server serves."""

    pairs: frozenset[tuple[str, str]]

    def serves(self, api_version: str, kind: str) -> bool:
        return (api_version, kind) in self.pairs


def discover_served_kinds(api: ApiClient) -> ServedKinds:
    """Ask API discovery for every group version's kinds (subresources excluded)."""
    pairs: set[tuple[str, str]] = set()
    core = CoreV1Api(api).get_api_resources()
    pairs |= {("v1", r.kind) for r in core.resources if "/" not in r.name}
    custom = CustomObjectsApi(api)
    for group in ApisApi(api).get_api_versions().groups:
        for version in group.versions:
            try:
                listing = custom.get_api_resources(group.name, version.version)
            except Exception as exc:  # an aggregated API that is down must not hide the others
                log.warning("discovery of %s failed: %s", version.group_version, exc)
                continue
            pairs |= {(version.group_version, r.kind) for r in listing.resources if "/" not in r.name}
    return ServedKinds(frozenset(pairs))
