"""The Portkey gateway config of Faro's embeddings: ordered fallback targets and gateway-side retries.

The ``portkey-ai`` SDK sends this object as the ``x-portkey-config`` header. The open-source gateway
(``workloads/gateway``) checks it against its config schema, then tries ``targets`` in order: a target whose
answer has a status in ``strategy.on_status_codes`` hands the request to the next one; before that, the
gateway retries each target ``retry.attempts`` times on ``retry.on_status_codes`` (waiting 1 s, 2 s, 4 s, ...)
and on connection failures. A top-level ``retry`` applies to every target. ``override_params`` replaces
request fields (here the model name) for one target.

Names are the gateway's own, snake_case. The gateway drops fields it does not know without complaint, so a
misspelt name here would be ignored rather than rejected.
"""

from __future__ import annotations

from typing import Any

from faro_workloads.contract.embedding_settings import EmbeddingConfig, GatewayTarget


def gateway_targets(config: EmbeddingConfig) -> list[GatewayTarget]:
    """The endpoints in the order the gateway tries them: the primary one, then ``fallback_targets``.

    The primary endpoint is ``provider``, ``custom_host`` and ``api_key`` of ``config``, asked for
    ``config.model`` (the model the request names).
    """
    primary = GatewayTarget(provider=config.provider, custom_host=config.custom_host, api_key=config.api_key)
    return [primary, *config.fallback_targets]


def needs_gateway_config(config: EmbeddingConfig) -> bool:
    """Whether ``config`` asks the gateway to fall back or retry (else plain request headers suffice)."""
    return bool(config.fallback_targets) or config.gateway_retry_attempts > 0


def build_gateway_config(config: EmbeddingConfig) -> dict[str, Any] | None:
    """The gateway config for ``config``, or None when it configures neither fallback nor gateway retries.

    Shape: ``{"strategy": {"mode": "fallback", "on_status_codes": [...]}, "targets": [...]}`` plus
    ``"retry": {"attempts": n, "on_status_codes": [...]}`` when gateway retries are on.
    """
    if not needs_gateway_config(config):
        return None
    gateway_config: dict[str, Any] = {
        "strategy": {"mode": "fallback", "on_status_codes": list(config.fallback_on_status)},
        "targets": [target_entry(target) for target in gateway_targets(config)],
    }
    if config.gateway_retry_attempts > 0:
        gateway_config["retry"] = {
            "attempts": config.gateway_retry_attempts,
            "on_status_codes": list(config.gateway_retry_on_status),
        }
    return gateway_config


def target_entry(target: GatewayTarget) -> dict[str, Any]:
    """One element of the config's ``targets``.

    The gateway accepts a target only with both ``provider`` and ``api_key``; an endpoint that needs no key
    (a self-hosted model server) gets an empty one.
    """
    entry: dict[str, Any] = {
        "provider": target.provider,
        "api_key": target.api_key.get_secret_value() if target.api_key else "",
    }
    if target.custom_host:
        entry["custom_host"] = target.custom_host.rstrip("/")
    if target.model:
        entry["override_params"] = {"model": target.model}
    return entry
