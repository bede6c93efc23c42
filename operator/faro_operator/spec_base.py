"""What every custom resource spec model shares: the base model (camelCase aliases, unknown fields refused,
immutable), the Kubernetes name, quantity, URL, cron and host patterns, and a reference to a Secret's key."""

from __future__ import annotations

from pydantic import Field

from faro_workloads.contract.api import ApiModel

K8S_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
QUANTITY = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
HTTP_URL = r"^https?://[A-Za-z0-9\[]\S*$"
"""An http(s) URL with a host (checked by the API server too: it is in the CRDs)."""
CRON_SCHEDULE = r"^(@(yearly|annually|monthly|weekly|daily|hourly)|\S+( +\S+){4})$"
"""Five cron fields, or one of the @ shorthands (the CronJob's own check follows when it is applied)."""
HOST = (
    r"^([A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*"
    r"|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*)$"
)
"""A DNS name, an IPv4 or an IPv6 address (an address's numbers are checked by the model)."""
IP_ADDRESS = r"^([0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*)$"
"""An IPv4 or an IPv6 address (its numbers are checked by the model)."""


class SpecModel(ApiModel):
    """Base of every spec model: camelCase in YAML, unknown fields rejected, immutable."""


class SecretKeyRef(SpecModel):
    """A key of a Secret in the resource's namespace."""

    name: str = Field(..., pattern=K8S_NAME, max_length=253, description="Secret name.")
    key: str = Field(..., min_length=1, max_length=253, description="Key within the Secret.")
