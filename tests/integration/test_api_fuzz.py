"""Property-based fuzzing of the HTTP API from its own OpenAPI schema (schemathesis): never a 5xx."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from faro_workloads.core.config import ChunkingConfig, IngestConfig
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.data_plane import DataPlane

pytestmark = pytest.mark.integration

# Per operation. Each run draws new examples; raise it locally to search harder (FARO_FUZZ_EXAMPLES=1000).
FUZZ_EXAMPLES = int(os.environ.get("FARO_FUZZ_EXAMPLES", "100"))


@pytest.fixture(scope="module")
def fuzz_plane(pg_store_factory_module, qdrant_store_factory_module) -> Iterator[DataPlane]:
    pg = pg_store_factory_module(dimension=32)
    qdrant = qdrant_store_factory_module(pg.collection)
    plane = DataPlane(
        pg,
        qdrant,
        HashingEmbedder(dimension=32),
        chunking=ChunkingConfig(strategy="recursive", size=32, overlap=4),
        ingest=IngestConfig(max_body_bytes=64 * 1024),
    )
    yield plane
    plane.close()


def test_no_operation_answers_with_a_server_error(fuzz_plane: DataPlane) -> None:
    """Every operation of the OpenAPI schema, fed Hypothesis-generated valid and invalid requests.

    Driven through the schemathesis API rather than its pytest plugin, which does not run on pytest 9.2.
    """
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_plane.api())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /v1/documents",
        "GET /v1/documents",
        "GET /v1/documents/{doc_id}",
        "DELETE /v1/documents/{doc_id}",
        "POST /v1/query",
    }
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def no_server_error(case: schemathesis.Case) -> None:
            case.call_and_validate(checks=[not_a_server_error])

        no_server_error()
