"""Faro's one error hierarchy: each expected failure is the input's fault (permanent) or a dependency's
(transient), and the HTTP edge maps the two bases once: 422 and 503, whatever the subclass."""

from __future__ import annotations

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from faro_workloads.api.app import build_api
from faro_workloads.core.chunk_objects import MalformedChunkObject
from faro_workloads.core.document_errors import DocumentTooComplex, UnsupportedDocument
from faro_workloads.core.documents import InvalidDocumentId
from faro_workloads.core.embedding import EmbeddingDimensionError, EmbeddingError
from faro_workloads.core.outbox import OutboxApplyError
from faro_workloads.core.retrieval import QdrantQueryTimeout
from faro_workloads.errors import DependencyUnavailable, FaroError, InputError
from faro_workloads.s3_events import MalformedEvent

INPUT_ERRORS = [
    UnsupportedDocument,
    DocumentTooComplex,
    InvalidDocumentId,
    MalformedChunkObject,
    MalformedEvent,
]
DEPENDENCY_ERRORS = [EmbeddingError, EmbeddingDimensionError, OutboxApplyError, QdrantQueryTimeout]


@pytest.mark.parametrize("error", INPUT_ERRORS)
def test_input_errors_are_permanent_and_still_value_errors(error: type[Exception]) -> None:
    assert issubclass(error, InputError) and issubclass(error, FaroError)
    assert issubclass(error, ValueError)  # what callers caught before the hierarchy still matches
    assert not issubclass(error, DependencyUnavailable)


@pytest.mark.parametrize("error", DEPENDENCY_ERRORS)
def test_dependency_errors_are_transient_and_name_their_dependency(error: type[Exception]) -> None:
    assert issubclass(error, DependencyUnavailable) and not issubclass(error, InputError)
    assert error.dependency != DependencyUnavailable.dependency  # type: ignore[attr-defined]


def _client_raising(error: Exception) -> TestClient:
    router = APIRouter()

    @router.get("/v1/fail")
    def fail() -> None:
        raise error

    return TestClient(build_api("t", [router], {}, max_body_bytes=1024), raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (MalformedEvent("not an S3 event"), 422, "not an S3 event"),
        (InvalidDocumentId("bad id"), 422, "bad id"),
        (EmbeddingError("gateway timed out"), 503, "embedding model unavailable: gateway timed out"),
        (QdrantQueryTimeout("no answer in 2 s"), 503, "Qdrant unavailable: no answer in 2 s"),
        (DependencyUnavailable("down"), 503, "dependency unavailable: down"),
    ],
)
def test_the_http_edge_maps_each_base_once(error: Exception, status: int, detail: str) -> None:
    response = _client_raising(error).get("/v1/fail")
    assert (response.status_code, response.json()) == (status, {"detail": detail})
