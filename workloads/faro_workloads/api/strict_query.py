"""Query strings a route reads as given: FastAPI ignores a parameter the route does not declare and, of one
given twice, takes the last, so ``GET /v1/documents?limt=5`` answered the default page of 100 without a
word. :func:`check_query` refuses both with a 422 naming the parameter."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

from fastapi import HTTPException
from starlette.requests import Request


def check_query(request: Request, takes: Collection[str]) -> None:
    """422 when ``request``'s query string names a parameter outside ``takes``, or one of them twice."""
    given = Counter(name for name, _ in request.query_params.multi_items())
    unknown = sorted(set(given) - set(takes))
    if unknown:
        expected = ", ".join(sorted(takes)) or "none"
        raise HTTPException(
            422, f"unknown query parameter {', '.join(map(repr, unknown))} (this call takes: {expected})"
        )
    twice = sorted(name for name, count in given.items() if count > 1)
    if twice:
        raise HTTPException(422, f"query parameter {twice[0]!r} given more than once")
