"""API-key check of the data APIs (everything under ``/v1/``), by scope.

A pure ASGI middleware, so an unauthenticated request is refused before anything reads, parses or
validates its body: a stranger learns nothing from a 422 and costs no parsing. Health, readiness, metrics and
the API docs stay open.

What a call needs: ``/v1/query`` the ``query`` scope, ``/v1/documents`` ``write``, anything else under
``/v1/`` ``admin`` (scopes are ranked: :class:`~faro_workloads.contract.access.Scope`). No key or a key no
entry has: 401 with a ``WWW-Authenticate: Bearer`` challenge; a known key without the scope: 403. Each
refusal is counted (``faro_auth_denied_total{reason}``) and leaves an audit line; an allowed request carries
its :class:`Identity` in the request state (``request.state.identity``) for the handlers' audit lines.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from faro_workloads.api.audit import audit
from faro_workloads.api.key_ring import Identity, KeyRing
from faro_workloads.contract.access import Scope as KeyScope
from faro_workloads.core.metrics import AUTH_DENIED, expose_label_values

PROTECTED_PREFIX = "/v1/"
IDENTITY_STATE = "identity"
DENIAL_REASONS = ("missing_key", "unknown_key", "insufficient_scope", "rate_limited")
_CHALLENGE = "missing or wrong API key: send 'Authorization: Bearer <key>'"


def required_scope(path: str) -> KeyScope:
    """The scope a call to ``path`` (under ``/v1/``) needs."""
    if path == "/v1/query" or path.startswith("/v1/query/"):
        return KeyScope.QUERY
    if path == "/v1/documents" or path.startswith("/v1/documents/"):
        return KeyScope.WRITE
    return KeyScope.ADMIN


class ApiKeyAuth:
    """Refuses calls under ``/v1/`` whose ``Authorization: Bearer <key>`` ``ring`` does not allow."""

    def __init__(self, app: ASGIApp, ring: KeyRing) -> None:
        self.app = app
        self._ring = ring
        expose_label_values(AUTH_DENIED, DENIAL_REASONS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        key = _bearer_key(scope)
        identity = self._ring.identify(key) if key else None
        needed = required_scope(scope["path"])
        if identity is None:
            reason = "missing_key" if not key else "unknown_key"
            await self._deny(scope, send, 401, reason, None, _CHALLENGE)
            return
        if not identity.scope.allows(needed):
            message = f"key {identity.name!r} has scope {identity.scope}; this call needs {needed}"
            await self._deny(scope, send, 403, "insufficient_scope", identity, message)
            return
        scope.setdefault("state", {})[IDENTITY_STATE] = identity
        await self.app(scope, receive, send)

    async def _deny(
        self, scope: Scope, send: Send, status: int, reason: str, identity: Identity | None, message: str
    ) -> None:
        AUTH_DENIED.labels(reason).inc()
        client = scope.get("client")
        audit(
            "denied",
            identity=identity.name if identity else None,
            reason=reason,
            method=scope.get("method"),
            path=scope["path"],
            client=client[0] if client else None,
        )
        body = json.dumps({"detail": message}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if status == 401:
            headers.append((b"www-authenticate", b"Bearer"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _bearer_key(scope: Scope) -> str:
    """The bearer token of the request ("" when there is none, or it is not a bearer token)."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer":
                return token.strip().decode("latin-1")
            return ""
    return ""
