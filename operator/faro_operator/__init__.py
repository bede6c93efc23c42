"""Faro's Kubernetes operator (kopf): Collection and RagPipeline custom resources.

The API (group, version, kinds, status models, conditions) is :mod:`faro_workloads.contract`, shared with
the workloads; the names below are re-exported from it.
"""

from faro_workloads.contract.api import API_VERSION, GROUP, VERSION

__all__ = ["API_VERSION", "GROUP", "VERSION"]
