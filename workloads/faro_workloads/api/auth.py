"""Bearer API-key check for the data APIs (a key from a Secret-mounted environment variable).

A pure ASGI middleware, so an unauthenticated request is refused before anything reads, parses or
validates its body: a stranger learns nothing from a 422 and costs no parsing.
"""

from __future__ import annotations

import hmac
import json

from starlette.types import ASGIApp, Receive, Scope, Send

PROTECTED_PREFIX = "/v1/"
_CHALLENGE = json.dumps({"detail": "missing or wrong API key: send 'Authorization: Bearer <key>'"}).encode()


class BearerKeyAuth:
    """401 for requests under ``/v1/`` without ``Authorization: Bearer <api_key>``; health, readiness,
    metrics and the API docs stay open. The key is compared in constant time."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        if not api_key:
            raise ValueError("the API key is empty")
        self.app = app
        self._expected = api_key.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        protected = scope["type"] == "http" and scope["path"].startswith(PROTECTED_PREFIX)
        if protected and not self._allowed(scope):
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(_CHALLENGE)).encode()),
                        (b"www-authenticate", b"Bearer"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _CHALLENGE})
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope: Scope) -> bool:
        header = b""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value
                break
        scheme, _, token = header.partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._expected)
