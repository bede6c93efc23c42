"""Who may call a RagPipeline's data APIs (``spec.access``): API keys, Kubernetes service accounts (with the
tenants they are held to), anonymous access on purpose, and a per-caller rate limit."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from faro_operator.spec_base import SecretKeyRef, SpecModel
from faro_workloads.contract.access import TENANT_PATTERN
from faro_workloads.contract.auth_settings import Burst, RequestsPerSecond


class RateLimitSpec(SpecModel):
    """Requests each caller (an API key, or a client address on an open API) may make, per replica."""

    requests_per_second: RequestsPerSecond
    burst: Burst


# A ServiceAccount in the pipeline's namespace, or in another one as namespace/name.
SERVICE_ACCOUNT_REF = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?/)?[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$"


class AccessSpec(SpecModel):
    """Who may call the pipeline's data APIs (the chunker's documents API and the query API). Closed by
    default: without keys, every call is refused unless ``anonymous`` opens them on purpose."""

    anonymous: bool = Field(
        False,
        description="Open the data APIs to anyone who can reach them (no keys). Excludes apiKeysSecretRef.",
    )
    rate_limit: RateLimitSpec | None = Field(
        None, description="Per-caller rate limit of the data APIs, per replica (429 with Retry-After beyond)."
    )
    api_keys_secret_ref: SecretKeyRef | None = Field(
        None,
        description="A Secret key holding a keys file (`faro keys new --file keys.json`: key names, SHA-256 "
        "digests, scopes query/write/admin); its changes reach the pods without a restart.",
    )

    service_accounts: bool = Field(
        True,
        description="Accept Kubernetes service-account tokens issued for the audience "
        "faro.dev/<namespace>/<pipeline>, authorized by RBAC: create on ragpipelines/query to query; create, "
        "get, list, delete on ragpipelines/documents to write. Not with anonymous.",
    )

    service_account_tenants: dict[
        Annotated[str, Field(pattern=SERVICE_ACCOUNT_REF)], Annotated[str, Field(pattern=TENANT_PATTERN)]
    ] = Field(
        default_factory=dict,
        max_length=1000,
        description="Service accounts held to one tenant's documents: name (in the pipeline's namespace) or "
        "namespace/name -> tenant. Others are not held to a tenant.",
    )

    def tenant_users(self, namespace: str) -> dict[str, str]:
        """``service_account_tenants`` by Kubernetes user name (``system:serviceaccount:<ns>:<name>``)."""
        users = {}
        for account, tenant in self.service_account_tenants.items():
            account_namespace, _, name = account.rpartition("/")
            users[f"system:serviceaccount:{account_namespace or namespace}:{name}"] = tenant
        return users

    @property
    def accepts_service_accounts(self) -> bool:
        """Whether the data APIs take service-account tokens (on unless turned off, or the APIs are open)."""
        return self.service_accounts and not self.anonymous

    @model_validator(mode="after")
    def _anonymous_or_keys(self) -> AccessSpec:
        if self.anonymous and self.api_keys_secret_ref is not None:
            raise ValueError("anonymous access and apiKeysSecretRef exclude each other: set one or the other")
        if self.anonymous and self.service_accounts and "service_accounts" in self.model_fields_set:
            raise ValueError("anonymous access and serviceAccounts exclude each other: set one or the other")
        return self
