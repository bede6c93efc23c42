"""Embeddings through the Portkey AI gateway with the ``portkey-ai`` SDK.

The same client reaches a hosted model via the gateway (``provider`` + ``custom_host`` + provider key) or
any OpenAI-compatible ``/v1/embeddings`` server directly (``gateway_url`` pointing at it). With fallback
targets or gateway retries configured, the whole route travels as a gateway config instead (see
:mod:`.gateway_config`), and the gateway falls back and retries before answering. Transient failures seen
by the client (connection errors, timeouts, 408/409/429/5xx) are retried with exponential backoff by
tenacity; other 4xx fail at once with the server's message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from portkey_ai import Portkey
from portkey_ai._vendor.openai import APIConnectionError, APIStatusError, APITimeoutError
from tenacity import (
    Retrying,
    before_sleep_log,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from faro_workloads.contract.settings import EmbeddingConfig
from faro_workloads.core.embedding.base import Embedder, EmbeddingError
from faro_workloads.core.embedding.gateway_config import build_gateway_config, gateway_targets

log = logging.getLogger(__name__)

_RETRYABLE_STATUS = {408, 409, 429}


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, APIConnectionError | APITimeoutError):
        return True
    if isinstance(exc, APIStatusError):
        return exc.status_code in _RETRYABLE_STATUS or exc.status_code >= 500
    return False


class PortkeyEmbedder(Embedder):
    """Calls ``embeddings.create`` on the Portkey SDK, one request per batch, floats not base64."""

    def __init__(self, config: EmbeddingConfig, gateway_config: dict[str, Any] | None = None) -> None:
        """A client for ``config``; ``gateway_config`` replaces the one built from it (see
        :func:`~.gateway_config.build_gateway_config`)."""
        super().__init__(model=config.model, dimension=config.dimension, batch_size=config.batch_size)
        self.provider = config.provider
        if not config.gateway_url:
            raise ValueError("PortkeyEmbedder needs embedding.gateway_url")
        self._config = config
        if gateway_config is None:
            gateway_config = build_gateway_config(config)
        options: dict[str, Any] = {
            "base_url": config.gateway_url,
            "api_key": config.portkey_api_key.get_secret_value() if config.portkey_api_key else None,
            "request_timeout": int(config.timeout_seconds * 1000),
        }
        if gateway_config:
            # The config carries every target's provider, host and key. No provider/custom-host headers next
            # to it: the gateway lets an x-portkey-custom-host header override the host of every target.
            options["config"] = gateway_config
        else:
            options["provider"] = config.provider
            if config.custom_host:
                options["custom_host"] = config.custom_host
            if config.api_key:
                options["Authorization"] = config.api_key.get_secret_value()
        # Cohere needs input_type; the gateway drops it for openai targets, so it is safe in a mixed route.
        self._extra_body: dict[str, Any] = {}
        if any(target.provider == "cohere" for target in gateway_targets(config)):
            self._extra_body["input_type"] = config.cohere_input_type
        self._client = Portkey(**options)
        # Our own retries (tenacity) replace the SDK's, so a failing gateway sees one bounded retry plan.
        self._client.openai_client = self._client.openai_client.with_options(
            max_retries=0, timeout=config.timeout_seconds
        )
        self._client.embeddings.openai_client = self._client.openai_client

    def _embed_batch(self, texts: list[str]) -> Sequence[Sequence[float]]:
        retrying = Retrying(
            retry=retry_if_exception(_is_transient),
            stop=stop_after_attempt(self._config.max_attempts),
            wait=wait_exponential_jitter(multiplier=0.2, max=10, jitter=0.2),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        )
        try:
            response = retrying(
                self._client.embeddings.create,
                input=texts,
                model=self._config.model,
                encoding_format="float",
                **self._extra_body,
            )
        except APIStatusError as exc:
            raise EmbeddingError(
                f"embeddings request to {self._config.gateway_url} failed with HTTP {exc.status_code}"
                f"{_target_text(exc)}: {_error_text(exc)}"
            ) from exc
        except (APIConnectionError, APITimeoutError) as exc:
            raise EmbeddingError(
                f"embeddings gateway {self._config.gateway_url} unreachable after "
                f"{self._config.max_attempts} attempts: {exc}"
            ) from exc
        items = sorted(response.data, key=lambda item: item.index)
        return [item.embedding for item in items]

    def close(self) -> None:
        self._client.openai_client.close()


def _error_text(exc: APIStatusError) -> str:
    """The error message of a failed response: OpenAI's ``error.message``, FastAPI's ``detail``, or the
    gateway's own ``message`` (with its config ``errors``)."""
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            message = str(error.get("message") or error.get("detail") or error)
            details = error.get("errors")
            if isinstance(details, list) and details:
                message += f" ({'; '.join(str(detail) for detail in details)})"
            return message
        return str(error)
    return str(exc.message)


def _target_text(exc: APIStatusError) -> str:
    """Which target of a gateway config answered last (the gateway's response header), or nothing."""
    target = exc.response.headers.get("x-portkey-last-used-option-index")
    return f" (gateway target {target})" if target and target != "config" else ""
