"""JSON request bodies read strictly: a field sent twice in one object is refused (422) instead of the last
one silently winning (``{"query": "a", "query": "b"}``), and an endpoint that takes JSON answers 415 for a
body of another content type instead of a 422 about the body's shape.

Routers that take JSON bodies use :class:`StrictJsonRoute`; an endpoint that reads its body itself checks it
with :func:`refuse_repeated_fields`."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

JSON_TYPES = ("application/json",)


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object's fields as a dict; 422 when one is there twice."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise HTTPException(422, f"JSON field {key!r} sent more than once")
        found[key] = value
    return found


def refuse_repeated_fields(body: bytes | str) -> None:
    """422 when an object of the JSON ``body`` names a field twice. Meant for a body already validated (its
    nesting is bounded by the model it matched); a body that is not JSON is the validator's to refuse."""
    try:
        json.loads(body, object_pairs_hook=_no_repeats)
    except (ValueError, RecursionError):
        return


def is_json(request: Request) -> bool:
    """Whether ``request`` says its body is JSON (``application/json``, or a ``+json`` type)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return content_type in JSON_TYPES or content_type.endswith("+json")


class _StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = json.loads(await self.body(), object_pairs_hook=_no_repeats)
        return self._json


class StrictJsonRoute(APIRoute):
    """A route whose JSON body is read by :class:`_StrictJsonRequest` (repeated fields: 422) and which
    answers 415 to a body that is not JSON when its endpoint takes one."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()
        takes_json = self.body_field is not None

        async def strict(request: Request) -> Response:
            # Without a content type FastAPI reads the body as JSON; with another one it is not JSON.
            if takes_json and request.headers.get("content-type") and not is_json(request):
                raise HTTPException(415, "send the body as application/json")
            return await handler(_StrictJsonRequest(request.scope, request.receive))

        return strict
