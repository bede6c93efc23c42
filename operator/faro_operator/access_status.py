"""Who may call a pipeline's data APIs, as ``status.access`` says it, and the event a closed API gets."""

from __future__ import annotations

import kopf

from faro_operator.specs import RagPipelineSpec
from faro_workloads.contract.conditions import EventReason

API_KEYS, API_KEY, SERVICE_ACCOUNTS = "apiKeys", "apiKey", "serviceAccounts"
ANONYMOUS, CLOSED = "anonymous", "closed"


def access_modes(spec: RagPipelineSpec) -> dict[str, str]:
    """How each data API of ``spec`` is reached: ``documents`` (the chunker) and ``query`` (when enabled).
    The ways in joined by ``+`` (``apiKeys+serviceAccounts``), else ``anonymous`` or ``closed``."""
    access = spec.access
    shared = [API_KEYS] if access.api_keys_secret_ref else []
    accounts = [SERVICE_ACCOUNTS] if access.accepts_service_accounts else []
    apis = {"documents": shared + accounts}
    if spec.query.enabled:
        apis["query"] = shared + ([API_KEY] if spec.query.auth_secret_ref is not None else []) + accounts
    open_or_closed = ANONYMOUS if access.anonymous else CLOSED
    return {api: "+".join(ways) or open_or_closed for api, ways in apis.items()}


def report_access(body: kopf.Body, spec: RagPipelineSpec) -> dict[str, str | None]:
    """``status.access`` as a merge patch (an API no longer served removed by a null); a warning event for
    each API that has just become closed (not on every reconcile: the event says it once)."""
    modes = access_modes(spec)
    previous = (body.get("status") or {}).get("access") or {}
    for api, mode in modes.items():
        if mode == CLOSED and previous.get(api) != CLOSED:
            message = (
                f"the {api} API refuses every call: the pipeline names no API keys "
                "(spec.access.apiKeysSecretRef), takes no service-account tokens "
                "(spec.access.serviceAccounts) and anonymous access is off (spec.access.anonymous)"
            )
            kopf.warn(body, reason=EventReason.ACCESS_CLOSED, message=message)
    return {**dict.fromkeys(previous), **modes}
