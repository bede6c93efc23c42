"""Per-identity request rate limits on the data APIs: a token bucket for each caller, 429 with Retry-After.

A caller is the key its request came with (its name, set by the key check), or its client address on an
open API. Each has ``burst`` requests at once and ``requests_per_second`` after that. The limit is per
process: with N replicas behind a Service a caller gets up to N times the rate. The buckets of at most
``MAX_CALLERS`` callers are kept (the least recently seen go first), so a flood of addresses cannot grow
memory. A refused request is counted as ``faro_auth_denied_total{reason="rate_limited"}`` and audited.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from faro_workloads.api.audit import audit
from faro_workloads.api.auth import IDENTITY_STATE, PROTECTED_PREFIX
from faro_workloads.contract.auth_settings import RateLimitConfig
from faro_workloads.core.metrics import AUTH_DENIED

MAX_CALLERS = 10_000


class TokenBuckets:
    """One bucket per caller: ``burst`` tokens, refilled at ``rate`` per second."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate, self._burst, self._clock = rate, burst, clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # caller -> (tokens, at)

    def take(self, caller: str) -> float:
        """0 when ``caller`` may go ahead (a token taken), else the seconds until it may."""
        now = self._clock()
        tokens, at = self._buckets.pop(caller, (float(self._burst), now))
        tokens = min(float(self._burst), tokens + (now - at) * self._rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self._rate
        self._buckets[caller] = (tokens - 1 if wait == 0 else tokens, now)
        while len(self._buckets) > MAX_CALLERS:
            self._buckets.popitem(last=False)
        return wait


class RateLimit:
    """429 for calls under ``/v1/`` beyond their caller's bucket."""

    def __init__(
        self, app: ASGIApp, config: RateLimitConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app = app
        self._buckets = TokenBuckets(config.requests_per_second, config.burst, clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIX):
            await self.app(scope, receive, send)
            return
        identity = scope.get("state", {}).get(IDENTITY_STATE)
        client = scope.get("client")
        address = client[0] if client else "unknown"
        caller = f"key:{identity.name}" if identity is not None else f"address:{address}"
        wait = self._buckets.take(caller)
        if wait == 0:
            await self.app(scope, receive, send)
            return
        AUTH_DENIED.labels("rate_limited").inc()
        retry_after = max(1, math.ceil(wait))
        audit(
            "denied",
            identity=identity.name if identity is not None else None,
            reason="rate_limited",
            method=scope.get("method"),
            path=scope["path"],
            client=address,
        )
        body = json.dumps({"detail": f"too many requests: retry in {retry_after} s"}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(retry_after).encode()),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
