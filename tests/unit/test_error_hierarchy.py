"""Faro's one error hierarchy: each expected failure is the input's fault (permanent) or a dependency's
(transient), and each edge maps the two bases once: HTTP 422 and 503, CLI exit 2 and 3, whatever the
subclass."""

from __future__ import annotations

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from faro_workloads.api.app import build_api
from faro_workloads.client import APIUnavailable, RequestRejected
from faro_workloads.core.chunk_objects import MalformedChunkObject
from faro_workloads.core.document_errors import DocumentTooComplex, UnsupportedDocument
from faro_workloads.core.documents import InvalidDocumentId
from faro_workloads.core.embedding import EmbeddingDimensionError, EmbeddingError
from faro_workloads.core.outbox import OutboxApplyError
from faro_workloads.core.retrieval import QdrantQueryTimeout
from faro_workloads.core.stores.ports import CollectionMismatch, StoreSchemaMismatch
from faro_workloads.errors import (
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_UNAVAILABLE,
    ConfigurationError,
    DependencyUnavailable,
    FaroError,
    InputError,
    exit_status,
    invalid_configuration,
)
from faro_workloads.s3_events import MalformedEvent
from faro_workloads.services.local_options import LocalModeError
from faro_workloads.services.stores import StoreUnavailable

INPUT_ERRORS = [
    UnsupportedDocument,
    DocumentTooComplex,
    InvalidDocumentId,
    MalformedChunkObject,
    MalformedEvent,
    RequestRejected,
    ConfigurationError,
    LocalModeError,
    StoreSchemaMismatch,
    CollectionMismatch,
]
DEPENDENCY_ERRORS = [
    EmbeddingError,
    EmbeddingDimensionError,
    OutboxApplyError,
    QdrantQueryTimeout,
    StoreUnavailable,
    APIUnavailable,
]


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


@pytest.mark.parametrize("error", INPUT_ERRORS)
def test_the_cli_exits_2_for_every_input_error(error: type[Exception]) -> None:
    assert exit_status(error("wrong")) == EXIT_INPUT == 2


@pytest.mark.parametrize("error", DEPENDENCY_ERRORS)
def test_the_cli_exits_3_for_every_unavailable_dependency(error: type[Exception]) -> None:
    assert exit_status(error("down")) == EXIT_UNAVAILABLE == 3


def test_the_cli_exits_2_for_invalid_settings_and_1_for_other_expected_failures() -> None:
    from pydantic import BaseModel, ValidationError

    class Settings(BaseModel):
        port: int

    with pytest.raises(ValidationError) as invalid:
        Settings.model_validate({"port": "many"})
    assert exit_status(invalid.value) == EXIT_INPUT
    assert exit_status(FileNotFoundError("nope.md")) == EXIT_INPUT
    assert exit_status(FaroError("something else")) == EXIT_FAILED == 1


def test_invalid_configuration_is_one_line_in_the_words_of_its_check() -> None:
    from pydantic import ValidationError

    from faro_workloads.contract.settings import ChunkingConfig

    with pytest.raises(ValidationError) as whole:  # a check of the whole model: no place to name
        ChunkingConfig(size=10, overlap=20)
    assert invalid_configuration(whole.value) == (
        "invalid configuration: chunking overlap (20) must be smaller than size (10)"
    )
    with pytest.raises(ValidationError) as field:
        ChunkingConfig(size=-1)
    assert invalid_configuration(field.value).startswith("invalid configuration: size: Input should be")


def test_the_libraries_errors_a_command_meets_are_one_line_with_their_exit_code() -> None:
    import botocore.exceptions
    import kubernetes.config
    import urllib3.exceptions

    from faro_workloads.cli import outside_failure

    unreachable = botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1/")
    assert outside_failure(unreachable) == (
        'cannot reach S3/SQS: Could not connect to the endpoint URL: "http://127.0.0.1:1/"',
        EXIT_UNAVAILABLE,
    )
    assert outside_failure(botocore.exceptions.NoCredentialsError())[1] == EXIT_INPUT  # type: ignore[index]
    denied = {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}
    assert outside_failure(botocore.exceptions.ClientError(denied, "ReceiveMessage"))[1] == EXIT_INPUT  # type: ignore[arg-type,index]
    busy = {"Error": {"Code": "ServiceUnavailable"}, "ResponseMetadata": {"HTTPStatusCode": 503}}
    assert outside_failure(botocore.exceptions.ClientError(busy, "ReceiveMessage"))[1] == EXIT_UNAVAILABLE  # type: ignore[arg-type,index]
    assert outside_failure(kubernetes.config.ConfigException("no config")) == (
        "no Kubernetes credentials: no config",
        EXIT_INPUT,
    )
    retries = urllib3.exceptions.MaxRetryError(None, "/version", "refused")  # type: ignore[arg-type]
    assert outside_failure(retries)[1] == EXIT_UNAVAILABLE  # type: ignore[index]
    assert outside_failure(RecursionError()) == ("the input nests too deeply to read", EXIT_INPUT)
    assert outside_failure(KeyError("a bug")) is None  # its traceback is what to report
