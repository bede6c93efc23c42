"""Settings of the data APIs' access control: API keys, Kubernetes service-account tokens, rate limits."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator

from faro_workloads.contract.access import TENANT_PATTERN
from faro_workloads.contract.api import SettingsModel

IN_CLUSTER_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


RequestsPerSecond = Annotated[float, Field(gt=0, le=100_000, description="Sustained rate per caller.")]
Burst = Annotated[int, Field(ge=1, le=100_000, description="Requests a caller may make at once.")]
"""A rate limit's two figures, bounded alike in a RagPipeline's spec and in the services' settings."""


class RateLimitConfig(SettingsModel):
    """Requests each caller (an API key, or a client address on an open API) may make to the data APIs."""

    requests_per_second: RequestsPerSecond
    burst: Burst


class ServiceAccountAuthConfig(SettingsModel):
    """Kubernetes service-account tokens on the data APIs: each token is checked with a TokenReview for
    ``audience``, and each call with a LocalSubjectAccessReview in ``namespace`` (may this identity do the
    call's verb on ``ragpipelines/<query|documents|generations>`` of this pipeline?). The service calls the
    API server with its own service account's token (the in-cluster files by default)."""

    audience: str = Field(
        ..., min_length=1, max_length=253, description="The audience a client's token must be issued for."
    )
    namespace: str = Field(
        ..., pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", description="The RagPipeline's namespace."
    )
    api_server: str = Field(
        "https://kubernetes.default.svc", pattern=r"^https?://", description="The Kubernetes API server."
    )
    token_file: Path = Field(
        Path(f"{IN_CLUSTER_ACCOUNT}/token"),
        description="The service's own token for the reviews (re-read as the kubelet rotates it).",
    )
    ca_file: Path | None = Field(
        Path(f"{IN_CLUSTER_ACCOUNT}/ca.crt"), description="CA bundle of the API server; None: system CAs."
    )
    cache_seconds: float = Field(
        10, ge=0, le=300, description="How long a review's answer is reused (an RBAC change waits this long)."
    )
    timeout_seconds: float = Field(5, gt=0, le=60, description="Timeout of one review call.")
    tenants: dict[str, Annotated[str, Field(pattern=TENANT_PATTERN)]] = Field(
        default_factory=dict,
        max_length=10_000,
        description="Service accounts held to a tenant, by user name (system:serviceaccount:<ns>:<name>).",
    )


class AuthConfig(SettingsModel):
    """Who may call the data APIs, query and documents (health and metrics stay open): API keys (a keys file
    and/or one admin key) and Kubernetes service-account tokens (``service_accounts``); either lets a call in.

    With none of them, ``anonymous`` decides: true opens the APIs on purpose, false refuses every call (what
    the operator renders unless a pipeline's spec says otherwise), unset opens them with a warning in the log
    (``faro serve`` without configuration)."""

    api_key: SecretStr | None = Field(None, description="One bearer key with the admin scope.")
    anonymous: bool | None = Field(
        None,
        description="Without keys: true opens the APIs, false refuses every call; unset opens (a warning).",
    )
    rate_limit: RateLimitConfig | None = Field(
        None, description="Per-caller request rate limit of the data APIs (429 with Retry-After beyond it)."
    )
    keys_file: Path | None = Field(
        None,
        description="A keys file (JSON: names, SHA-256 of the keys, scopes), re-read when it changes: a "
        "mounted Secret's rotation needs no restart.",
    )

    service_accounts: ServiceAccountAuthConfig | None = Field(
        None, description="Accept Kubernetes service-account tokens, authorized by RBAC."
    )

    @property
    def configured(self) -> bool:
        """Whether any way in is configured (API keys or service-account tokens)."""
        return self.api_key is not None or self.keys_file is not None or self.service_accounts is not None

    @model_validator(mode="after")
    def _anonymous_or_keys(self) -> AuthConfig:
        if self.anonymous and self.configured:
            raise ValueError(
                "anonymous access excludes API keys and service-account tokens: set one or the other"
            )
        return self

    @field_validator("api_key")
    @classmethod
    def _not_empty(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and not key.get_secret_value().strip():
            raise ValueError("the API key is empty: set a key, or unset the variable to run without one")
        return key
