"""Bearer API-key check for the query API (a key from a Secret-mounted environment variable)."""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Request, params


def bearer_key_dependency(api_key: str) -> params.Depends:
    """A dependency that answers 401 unless the request carries ``Authorization: Bearer <api_key>``."""
    expected = api_key.encode()

    def check(request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
            raise HTTPException(
                401,
                "missing or wrong API key: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return Depends(check)
