"""What every custom resource spec model shares: the base model (camelCase aliases, unknown fields refused,
immutable), the Kubernetes name and quantity patterns, and a reference to a Secret's key."""

from __future__ import annotations

from pydantic import Field

from faro_workloads.contract.api import ApiModel

K8S_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
QUANTITY = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"


class SpecModel(ApiModel):
    """Base of every spec model: camelCase in YAML, unknown fields rejected, immutable."""


class SecretKeyRef(SpecModel):
    """A key of a Secret in the resource's namespace."""

    name: str = Field(..., pattern=K8S_NAME, max_length=253, description="Secret name.")
    key: str = Field(..., min_length=1, max_length=253, description="Key within the Secret.")
