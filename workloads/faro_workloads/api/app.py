"""Assembles a Faro HTTP service: routers + health, readiness, metrics and the body size limit."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from faro_workloads import __version__
from faro_workloads.api.auth import AccessCheck, DataApiAuth
from faro_workloads.api.body_limit import BodySizeLimit
from faro_workloads.api.errors import install_error_handlers
from faro_workloads.api.rate_limit import RateLimit
from faro_workloads.contract.auth_settings import RateLimitConfig
from faro_workloads.core.loop_bound import close_loop_resources

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], bool]


def build_api(
    title: str,
    routers: list[APIRouter],
    readiness: dict[str, ReadinessCheck],
    max_body_bytes: int,
    required_for_ready: frozenset[str] | None = None,
    access: AccessCheck | None = None,
    rate_limit: RateLimitConfig | None = None,
) -> FastAPI:
    """A FastAPI app with ``routers`` and the endpoints every Faro service has.

    ``/readyz`` runs each readiness check; the service is ready when the checks named in
    ``required_for_ready`` pass (all of them when None). The others are reported but do not fail readiness:
    e.g. the query service stays ready without Qdrant because it falls back to Postgres. With ``access``,
    every ``/v1/`` request needs an API key or a service-account token it lets in
    (:mod:`faro_workloads.api.auth`);
    with ``rate_limit``, each caller gets that many requests (:mod:`faro_workloads.api.rate_limit`).
    """
    app = FastAPI(title=title, version=__version__, lifespan=_lifespan)
    for router in routers:
        app.include_router(router)
    required = frozenset(readiness) if required_for_ready is None else required_for_ready

    @app.get("/healthz", tags=["health"], summary="Liveness")
    async def healthz() -> dict[str, str]:  # on the loop: no thread hand-off while ingest holds the GIL
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Readiness with per-dependency checks")
    async def readyz() -> JSONResponse:
        results: dict[str, bool] = {}
        for name, check in readiness.items():
            try:
                results[name] = bool(await run_in_threadpool(check))
            except Exception as exc:
                log.warning("readiness check %s failed: %s", name, exc)
                results[name] = False
        ready = all(results[name] for name in required)
        return JSONResponse({"ready": ready, "checks": results}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    install_error_handlers(app)
    _serve_exact_bounds(app)
    app.add_middleware(BodySizeLimit, max_bytes=max_body_bytes)
    if rate_limit is not None:  # inside the key check: a caller is its key when it has one
        app.add_middleware(RateLimit, config=rate_limit)
    if access is not None:  # outermost: refuses before the body is read
        app.add_middleware(DataApiAuth, check=access)
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """At shutdown, close the connections the app's requests opened on its loop (asynchronous pools and
    clients), which end with it."""
    yield
    await close_loop_resources()


_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


def _serve_exact_bounds(app: FastAPI) -> None:
    """Serve whole-number bounds in ``/openapi.json`` as integers. FastAPI's OpenAPI model holds bounds as
    floats, and ``-9.223372036854776e+18`` reads as -9223372036854776000 to a client that takes the text
    as written, while the model said -2**63 (exact as a float, so turning it back loses nothing)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _integral_bounds(generate())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _integral_bounds(node: object) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _BOUNDS and isinstance(value, float) and value.is_integer():
                node[key] = int(value)
            else:
                _integral_bounds(value)
    elif isinstance(node, list):
        for item in node:
            _integral_bounds(item)
