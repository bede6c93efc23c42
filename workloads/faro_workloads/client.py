"""A small HTTP client for a Faro documents/query API (used by ``faro ingest`` and ``faro query``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from faro_workloads.errors import DependencyUnavailable, FaroError, InputError


class FaroAPIError(FaroError):
    """The API answered with an error; the message is the server's."""


class RequestRejected(FaroAPIError, InputError):
    """The API refused the request (4xx): sending it again gives the same answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status

    @property
    def refuses_the_caller(self) -> bool:
        """401 or 403: the credential, not the request, is what is wrong (every request gets the same)."""
        return self.status in (401, 403)


class APIUnavailable(FaroAPIError, DependencyUnavailable):
    """The API could not be reached, or answered 5xx (a store or the model behind it is unavailable)."""

    dependency = "the API"


class FaroClient:
    def __init__(self, url: str, api_key: str | None = None, timeout: float = 120.0) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout)

    def upload_file(self, path: Path, doc_id: str) -> dict[str, Any]:
        with path.open("rb") as handle:
            response = self._http.post(
                "/v1/documents", files={"file": (path.name, handle)}, data={"doc_id": doc_id}
            )
        return _json_or_raise(response)

    def document(self, doc_id: str) -> dict[str, Any] | None:
        """The document and its state (``GET /v1/documents/{id}``; a deleted one is answered 410 with its
        state); None when the API never heard of it."""
        response = self._http.get(f"/v1/documents/{quote(doc_id, safe='/')}")
        if response.status_code == 410:
            return response.json()
        return None if response.status_code == 404 else _json_or_raise(response)

    def lists_documents(self) -> bool:
        """Whether the API has the documents API (a cluster's query service has not: its chunking service
        has)."""
        response = self._http.get("/v1/documents", params={"limit": 1})
        if response.status_code in (404, 405):
            return False
        _json_or_raise(response)
        return True

    def query(
        self,
        text: str,
        top_k: int | None,
        backend: str,
        mode: str | None = None,
        per_document: int | None = None,
        neighbours: int = 0,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"query": text, "backend": backend}
        if neighbours:
            body["neighbours"] = neighbours
        if per_document is not None:
            body["max_per_document"] = per_document
        if top_k is not None:
            body["top_k"] = top_k
        if mode is not None:
            body["mode"] = mode
        return _json_or_raise(self._http.post("/v1/query", json=body))

    def generations(self) -> dict[str, Any]:
        return _json_or_raise(self._http.get("/v1/generations"))

    def approve_generation(self, generation: int) -> dict[str, Any]:
        return _json_or_raise(self._http.post(f"/v1/generations/{generation}/approve"))

    def close(self) -> None:
        self._http.close()


def _json_or_raise(response: httpx.Response) -> dict[str, Any]:
    if response.is_success:
        return response.json()
    try:
        detail = response.json().get("detail")
    except ValueError:
        detail = response.text[:200]
    if isinstance(detail, list):  # FastAPI validation errors
        detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])))}: {d.get('msg')}" for d in detail)
    message = f"HTTP {response.status_code}: {detail}"
    if response.is_client_error and response.status_code != 429:
        raise RequestRejected(message, response.status_code)
    raise APIUnavailable(message)
