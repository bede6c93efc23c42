"""The chunking service when S3 does not answer: its documents API says 503 (try again later), not 500."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

from faro_workloads.contract.settings import ChunkingConfig
from faro_workloads.core.chunking import Chunker
from faro_workloads.core.ingest import IncomingDocument
from faro_workloads.errors import DependencyUnavailable
from faro_workloads.services.chunker import S3ChunkingBackend, S3Unavailable, s3_answers


class _DownStore:
    acknowledgement = None

    def __init__(self, error: Exception) -> None:
        self.error = error

    def put_document(self, *args: object, **kwargs: object) -> bool:
        raise self.error

    delete_document = list_records = put_document


@pytest.mark.parametrize(
    "error",
    [EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), NoCredentialsError()],
    ids=["unreachable", "no-credentials"],
)
def test_an_upload_while_s3_is_down_is_a_dependency_failure(error: Exception) -> None:
    chunker = Chunker(ChunkingConfig(tokenizer="chars", size=64, overlap=0))
    backend = S3ChunkingBackend(chunker, _DownStore(error), "p")  # type: ignore[arg-type]
    with pytest.raises(S3Unavailable, match=r"^S3 is unavailable: ") as raised:
        backend.ingest(IncomingDocument("d", "some words", "test"))
    assert isinstance(raised.value, DependencyUnavailable)  # the HTTP edge's 503
    with pytest.raises(S3Unavailable):
        backend.delete("d")


def test_s3s_own_refusals_stay_the_stores_and_its_5xx_are_unavailable() -> None:
    refused = ClientError(
        {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}, "Put"
    )
    with pytest.raises(ClientError), s3_answers():
        raise refused
    busy = ClientError({"Error": {"Code": "SlowDown"}, "ResponseMetadata": {"HTTPStatusCode": 503}}, "Put")
    with pytest.raises(S3Unavailable), s3_answers():
        raise busy
