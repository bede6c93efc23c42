"""The embedding model's settings (``FARO_EMBEDDING__*``): provider, model, batch size, the Portkey
gateway's route with its fallback targets, and the rules a self-hosted model server's address must follow."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator

from faro_workloads.contract.api import SettingsModel
from faro_workloads.contract.secret_files import read_secret_file, secret_file_path

_GATEWAY_RETRYABLE_STATUS = (429, 500, 502, 503, 504)
CohereInputType = Literal["search_document", "search_query", "classification", "clustering"]


def _custom_host_problem(provider: str, custom_host: str | None) -> str | None:
    """Why the Portkey gateway's ``provider`` cannot use ``custom_host``, or None when it can.

    The gateway appends the provider's own path to ``custom_host``: ``/embeddings`` for openai (so the host
    must end in ``/v1``), ``/v2/embed`` for cohere (so the host is the server root).
    """
    if custom_host is None:
        return None
    if not custom_host.startswith(("http://", "https://")):
        return f"custom_host must be an http:// or https:// URL, got {custom_host!r}"
    path = custom_host.rstrip("/")
    if provider == "openai" and not path.endswith("/v1"):
        return f"custom_host must end in /v1 (the gateway appends /embeddings), got {custom_host!r}"
    if provider == "cohere" and path.endswith(("/v1", "/v2")):
        return (
            f"a cohere custom_host is the server root, without /v1 or /v2 (the gateway appends /v2/embed), "
            f"got {custom_host!r}"
        )
    return None


def _status_code_problem(name: str, codes: list[int]) -> str | None:
    """A readable complaint when ``codes`` holds something other than HTTP error statuses, else None."""
    wrong = [code for code in codes if not 400 <= code <= 599]
    if wrong:
        return f"{name} may only hold HTTP error statuses (400-599), got {wrong}"
    return None


class GatewayTarget(SettingsModel):
    """A model endpoint the Portkey gateway falls back to, in order, when the ones before it fail."""

    provider: Literal["openai", "cohere"] = Field("openai", description="Gateway provider of the endpoint.")
    custom_host: str | None = Field(
        None,
        description=(
            "Self-hosted endpoint: ends in /v1 for openai, the server root for cohere; the provider's "
            "public API when absent."
        ),
    )
    api_key: SecretStr | None = Field(None, description="Provider API key of this endpoint (from a Secret).")
    api_key_file: str | None = Field(
        None,
        min_length=1,
        description=(
            "A file holding the API key instead (read at start; relative: in the FARO_SECRETS_DIR folder, "
            "where the operator mounts the target's Secret)."
        ),
    )
    model: str | None = Field(
        None, min_length=1, description="Model name at this endpoint; the embedding model when absent."
    )

    @model_validator(mode="before")
    @classmethod
    def _key_from_file(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("api_key_file") is None:
            return data
        if data.get("api_key") is not None:
            raise ValueError("fallback target: give api_key or api_key_file, not both")
        return {**data, "api_key": read_secret_file(secret_file_path(str(data["api_key_file"])))}

    @model_validator(mode="after")
    def _host_fits_provider(self) -> GatewayTarget:
        problem = _custom_host_problem(self.provider, self.custom_host)
        if problem:
            raise ValueError(f"fallback target: {problem}")
        return self


class EmbeddingConfig(SettingsModel):
    """Where embeddings come from.

    ``hash`` is the deterministic offline embedder (tests, quick demos); ``portkey`` calls a model through
    the ``portkey-ai`` SDK, normally via a Portkey gateway, or any OpenAI-compatible ``/v1/embeddings``.
    With ``fallback_targets`` or ``gateway_retry_attempts`` the gateway itself falls back and retries (the
    gateway config built by :mod:`faro_workloads.core.embedding.gateway_config`); ``max_attempts`` stays the
    client's own retry budget on top.
    """

    kind: Literal["hash", "portkey"] = "hash"
    model: str = Field("faro-hash-v1", min_length=1, description="Model name sent to the provider.")
    dimension: int = Field(384, ge=1, le=16000, description="Dimension the model returns.")
    batch_size: int = Field(64, ge=1, le=2048, description="Texts per embeddings request.")
    gateway_url: str | None = Field(None, description="Portkey gateway base URL, e.g. http://gw:8787/v1.")
    provider: Literal["openai", "cohere"] = "openai"
    custom_host: str | None = Field(
        None,
        description=(
            "Self-hosted model server the gateway forwards to: an OpenAI-compatible one ending in /v1 for "
            "openai, the server root of a Cohere-compatible one for cohere."
        ),
    )
    api_key: SecretStr | None = Field(None, description="Provider API key (from a Secret).")
    portkey_api_key: SecretStr | None = Field(None, description="Portkey API key, for the hosted gateway.")
    timeout_seconds: float = Field(30.0, gt=0, le=600)
    max_attempts: int = Field(5, ge=1, le=20, description="Attempts per batch, with exponential backoff.")
    fallback_targets: list[GatewayTarget] = Field(
        default_factory=list,
        max_length=8,
        description="Endpoints the gateway tries in order after the primary (provider/custom_host) fails.",
    )
    fallback_on_status: list[int] = Field(
        default_factory=lambda: list(_GATEWAY_RETRYABLE_STATUS),
        min_length=1,
        description=(
            "Statuses that make the gateway move on to the next target; the gateway answers 500 when it "
            "cannot connect to a target, so keep 500 here to fall back from an endpoint that is down."
        ),
    )
    gateway_retry_attempts: int = Field(
        0,
        ge=0,
        le=5,
        description="Retries the gateway makes per target (backoff 1 s, 2 s, 4 s, ...) before falling back.",
    )
    gateway_retry_on_status: list[int] = Field(
        default_factory=lambda: list(_GATEWAY_RETRYABLE_STATUS),
        min_length=1,
        description="Statuses the gateway retries; it also always retries a target it cannot connect to.",
    )
    cohere_input_type: CohereInputType = Field(
        "search_document", description="Cohere's input_type, sent when a cohere endpoint is configured."
    )

    @model_validator(mode="after")
    def _portkey_needs_gateway(self) -> EmbeddingConfig:
        if self.kind == "portkey" and not self.gateway_url:
            raise ValueError("embedding kind 'portkey' needs gateway_url")
        problem = _custom_host_problem(self.provider, self.custom_host)
        if problem:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _gateway_routing_is_usable(self) -> EmbeddingConfig:
        routed = bool(self.fallback_targets) or self.gateway_retry_attempts > 0
        if routed and self.kind != "portkey":
            raise ValueError("fallback_targets and gateway_retry_attempts need embedding kind 'portkey'")
        for name in ("fallback_on_status", "gateway_retry_on_status"):
            problem = _status_code_problem(name, getattr(self, name))
            if problem:
                raise ValueError(problem)
        # The gateway waits 1 s, 2 s, 4 s, ... between its retries of each target; a client that gives up
        # sooner only sees a timeout and sends the whole batch again.
        backoff = (2**self.gateway_retry_attempts - 1) * (1 + len(self.fallback_targets))
        if backoff >= self.timeout_seconds:
            raise ValueError(
                f"timeout_seconds ({self.timeout_seconds:g}) must exceed the gateway's retry backoff: "
                f"{backoff} s for {self.gateway_retry_attempts} retries over "
                f"{1 + len(self.fallback_targets)} target(s)"
            )
        return self
