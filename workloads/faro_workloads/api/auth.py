"""Access check of the data APIs (everything under ``/v1/``): API keys by scope, Kubernetes service-account
tokens by RBAC.

A pure ASGI middleware, so an unauthenticated request is refused before anything reads, parses or
validates its body: a stranger learns nothing from a 422 and costs no parsing. Health, readiness, metrics and
the API docs stay open.

A call sends ``Authorization: Bearer <credential>``. A credential the key ring knows is an API key: the call
needs its scope (:func:`~faro_workloads.contract.access.call_needs`). Any other credential, when the service
accepts service-account tokens, is reviewed by the API server (:mod:`faro_workloads.api.access_review`): it
must be a token for the pipeline's audience, and RBAC must allow its account the call's verb on
``ragpipelines/<subresource>`` of the pipeline. No credential or one nobody accepts: 401 with a ``Bearer``
challenge; a known caller not allowed the call: 403; the API server not answering a review: 503. Each refusal
is counted (``faro_auth_denied_total{reason}``) and leaves an audit line; an allowed request carries its
:class:`Identity` in the request state (``request.state.identity``) for the handlers' audit lines.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from faro_workloads.api.access_review import AccessReviewer, ReviewUnavailable
from faro_workloads.api.audit import audit
from faro_workloads.api.key_ring import Identity, KeyRing
from faro_workloads.contract.access import CallNeeds, call_needs
from faro_workloads.contract.auth_settings import AuthConfig
from faro_workloads.core.metrics import AUTH_DENIED, expose_label_values
from faro_workloads.errors import one_line

log = logging.getLogger(__name__)

PROTECTED_PREFIX = "/v1/"
MAX_TOKEN_CHARS = 16 * 1024
_JWT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
IDENTITY_STATE = "identity"
DENIAL_REASONS = (
    "missing_key",
    "unknown_key",
    "invalid_token",
    "insufficient_scope",
    "forbidden",
    "review_unavailable",
    "rate_limited",
)


@dataclass(frozen=True)
class AccessCheck:
    """The ways into a service's data APIs: API keys (``ring``; an empty ring knows no key) and, when
    accepted, service-account tokens (``reviewer``)."""

    ring: KeyRing
    reviewer: AccessReviewer | None = None


def access_check(config: AuthConfig, api: str, pipeline: str) -> AccessCheck | None:
    """What lets calls into ``api`` (for its log lines) of ``pipeline``, from ``config``: None when the API is
    open (``anonymous`` true, or unset with nothing configured: with a warning); a check no call passes when
    nothing is configured and ``anonymous`` is false."""
    if not config.configured:
        if config.anonymous is False:
            log.warning(
                "the %s refuses every call: no API keys or service-account tokens, and anonymous "
                "access is off",
                api,
            )
            return AccessCheck(KeyRing())
        if config.anonymous is None:
            log.warning("the %s is open to anyone who can reach it: no API keys configured", api)
        return None
    admin_key = config.api_key.get_secret_value() if config.api_key is not None else None
    ring = KeyRing(config.keys_file, admin_key)
    accounts = config.service_accounts
    return AccessCheck(ring, AccessReviewer(accounts, pipeline) if accounts is not None else None)


class Denied(Exception):
    """Why a call is refused: HTTP status, the metric's reason, a message for the caller."""

    def __init__(self, status: int, reason: str, message: str, identity: Identity | None = None) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.identity = status, reason, message, identity


class DataApiAuth:
    """Refuses calls under ``/v1/`` that ``check`` does not let through."""

    def __init__(self, app: ASGIApp, check: AccessCheck) -> None:
        self.app = app
        self._ring = check.ring
        self._reviewer = check.reviewer
        expose_label_values(AUTH_DENIED, DENIAL_REASONS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        try:
            identity = await self._admit(
                _bearer_credential(scope), call_needs(scope["method"], scope["path"])
            )
        except Denied as denied:
            await self._deny(scope, send, denied)
            return
        scope.setdefault("state", {})[IDENTITY_STATE] = identity
        await self.app(scope, receive, send)

    async def _admit(self, credential: str, needs: CallNeeds) -> Identity:
        if not credential:
            raise Denied(401, "missing_key", f"no credentials: {self._challenge()}")
        identity = self._ring.identify(credential)
        if identity is not None and identity.scope is not None:
            if not identity.scope.allows(needs.scope):
                message = f"key {identity.name!r} has scope {identity.scope}; this call needs {needs.scope}"
                raise Denied(403, "insufficient_scope", message, identity)
            return identity
        if self._reviewer is None or not looks_like_token(credential):
            raise Denied(401, "unknown_key", f"unknown API key: {self._challenge()}")
        try:
            account = await self._reviewer.authenticate(credential)
            if account is None:
                message = (
                    "not a known API key, nor a valid service-account token for the audience "
                    f"{self._reviewer.audience!r}"
                )
                raise Denied(401, "invalid_token", message)
            identity = Identity(account.username, tenant=self._reviewer.tenant_of(account.username))
            if not await self._reviewer.authorize(account, needs):
                message = (
                    f"{account.username} may not {needs.verb} {needs.resource} of this pipeline "
                    "(Kubernetes RBAC)"
                )
                raise Denied(403, "forbidden", message, identity)
        except ReviewUnavailable as exc:
            raise Denied(503, "review_unavailable", f"cannot check the token now: {one_line(exc)}") from exc
        return identity

    def _challenge(self) -> str:
        if self._reviewer is None:
            return "send 'Authorization: Bearer <API key>'"
        return (
            "send 'Authorization: Bearer <API key or service-account token for audience "
            f"{self._reviewer.audience}>'"
        )

    async def _deny(self, scope: Scope, send: Send, denied: Denied) -> None:
        AUTH_DENIED.labels(denied.reason).inc()
        client = scope.get("client")
        audit(
            "denied",
            identity=denied.identity.name if denied.identity else None,
            tenant=denied.identity.tenant if denied.identity else None,
            reason=denied.reason,
            method=scope.get("method"),
            path=scope["path"],
            client=client[0] if client else None,
        )
        body = json.dumps({"detail": denied.message}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if denied.status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        if denied.status == 503:
            headers.append((b"retry-after", b"5"))
        await send({"type": "http.response.start", "status": denied.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def looks_like_token(credential: str) -> bool:
    """Whether ``credential`` has the shape of a service-account token (a JWT: three base64url parts, at most
    ``MAX_TOKEN_CHARS``): anything else is refused without asking the API server, so a flood of made-up
    keys costs no reviews."""
    return len(credential) <= MAX_TOKEN_CHARS and _JWT.fullmatch(credential) is not None


def _bearer_credential(scope: Scope) -> str:
    """The bearer credential of the request ("" when there is none, or it is not a bearer credential)."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer":
                return token.strip().decode("latin-1")
            return ""
    return ""
