"""How every Faro HTTP service answers a request it cannot serve: ``{"detail": "<one line>"}``.

One place maps errors to responses: request validation (422, one readable line, no input values echoed
back), HTTP errors (with a complete ``Allow`` on 405), clients that went away, Faro's two error bases
(:class:`~faro_workloads.errors.InputError` 422, :class:`~faro_workloads.errors.DependencyUnavailable`
503) and the unexpected (500, logged once). Error text is made safe to encode: a lone surrogate from a
request never turns an answer into a crash.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match

from faro_workloads.core.stores.transaction_retry import RETRYABLE_ERRORS
from faro_workloads.errors import DependencyUnavailable, InputError

log = logging.getLogger(__name__)

_SURROGATES = re.compile("[\ud800-\udfff]")
# Parts of a pydantic error location that name no field: the body itself, union members, validators.
_NOT_A_FIELD = re.compile(r"^(body|(constrained-)?(str|bool|int|float)|function-\w+\[.*\])$")


class ErrorBody(BaseModel):
    """The body of every error answer."""

    detail: str


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` declaring :class:`ErrorBody` for ``statuses`` (422 replaces FastAPI's list)."""
    return {status: {"model": ErrorBody} for status in statuses}


def one_line(exc: ValidationError | RequestValidationError) -> str:
    """The first problem of a validation error as ``where: what`` (+ how many more), without the input."""
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if not _NOT_A_FIELD.match(str(part)))
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return safe_text(f"{where or 'body'}: {first.get('msg')}{more}")


def safe_text(text: str) -> str:
    """``text`` with lone surrogates replaced, so it always encodes as UTF-8."""
    return _SURROGATES.sub("\ufffd", text)


def error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": safe_text(detail)}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Register the one mapping of errors to answers on ``app``."""

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, one_line(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(_allowed_methods(request))
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=headers)
        return error_response(exc.status_code, str(exc.detail), headers)

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        log.info("client went away during %s %s", request.method, request.url.path)
        return Response(status_code=400)  # nobody reads it; the connection is closed

    @app.exception_handler(InputError)
    async def invalid_input(request: Request, exc: InputError) -> JSONResponse:
        return error_response(422, str(exc))

    @app.exception_handler(DependencyUnavailable)
    async def dependency_unavailable(request: Request, exc: DependencyUnavailable) -> JSONResponse:
        log.warning("%s unavailable on %s %s: %s", exc.dependency, request.method, request.url.path, exc)
        return error_response(503, f"{exc.dependency} unavailable: {exc}")

    async def write_conflict(request: Request, exc: Exception) -> JSONResponse:
        log.warning("write conflict on %s %s after retries: %s", request.method, request.url.path, exc)
        return error_response(
            503,
            "conflicting concurrent writes to the same documents; nothing was stored, retry",
            headers={"Retry-After": "1"},
        )

    for conflict in RETRYABLE_ERRORS:  # what is left of a deadlock once the store's retries are spent
        app.add_exception_handler(conflict, write_conflict)

    @app.exception_handler(psycopg.OperationalError)
    async def postgres_unavailable(request: Request, exc: psycopg.OperationalError) -> JSONResponse:
        log.warning("postgres unavailable on %s %s: %s", request.method, request.url.path, exc)
        return error_response(503, "PostgreSQL is unavailable; nothing was stored, retry later")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error: {type(exc).__name__}")


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path (Starlette names only the first route's):
    each method is tried against the routes as the router itself would match it."""
    routes = request.app.router.routes
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in routes):
            allowed.append(method)
    return allowed
