"""Bad input gets a 4xx with one readable line, never a 500, a silent coercion or a hang: lone surrogates,
deep nesting, out-of-range and mistyped values, unknown fields, oversized and stalled bodies, wrong
methods, unauthenticated requests. Real stores (pgserver + qdrant-client local mode); real uvicorn where
the transport matters."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from pydantic import ValidationError

from faro_workloads.api.body_limit import BodySizeLimit
from faro_workloads.api.header_timeout import HeaderDeadline, HeaderTimeoutH11Protocol
from faro_workloads.background_server import BackgroundServer, free_port
from faro_workloads.contract.settings import AuthConfig, ChunkingConfig, IngestConfig
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.data_plane import DataPlane

pytestmark = pytest.mark.integration

RAW_JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def plane(pg_store_factory_module, qdrant_store_factory_module) -> Iterator[DataPlane]:
    pg = pg_store_factory_module(dimension=32)
    data_plane = DataPlane(
        pg,
        qdrant_store_factory_module(pg.collection),
        HashingEmbedder(dimension=32),
        chunking=ChunkingConfig(strategy="recursive", size=64, overlap=8),
        ingest=IngestConfig(max_body_bytes=64 * 1024),
    )
    yield data_plane
    data_plane.close()


@pytest.fixture(scope="module")
def client(plane: DataPlane) -> Iterator[TestClient]:
    with TestClient(plane.api(), raise_server_exceptions=False) as http:
        yield http


def _detail(response) -> str:  # type: ignore[no-untyped-def]
    body = response.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str), body
    return body["detail"]


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/v1/query", b'{"query": "\\ud800 x"}'),
        ("/v1/query", b'{"query": "x", "filter": {"metadata": {"k": "\\udfff"}}}'),
        ("/v1/documents", b'{"doc_id": "a", "text": "bad \\ud800 text"}'),
        ("/v1/documents", b'{"doc_id": "a", "text": "ok", "metadata": {"k": "\\ud834"}}'),
    ],
)
def test_lone_surrogates_are_refused_not_crashed_on(client: TestClient, path: str, raw: bytes) -> None:
    response = client.post(path, content=raw, headers=RAW_JSON)
    assert response.status_code == 422, response.text
    assert "\\ud8" not in response.text and _detail(response)


def test_validation_errors_are_one_line_without_the_input(client: TestClient) -> None:
    secret = "x" * 3000
    response = client.post("/v1/query", json={"query": secret})
    assert response.status_code == 422
    detail = _detail(response)
    assert detail.startswith("query: String should have at most") and secret not in response.text


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"query": "x", "top_k": True}, "top_k"),
        ({"query": "x", "top_k": "5"}, "top_k"),
        ({"query": "x", "colour": "blue"}, "colour: Extra inputs are not permitted"),
        ({"query": "\u001d\u3000 "}, "query must contain some text"),  # blank to Python, not to ECMA's \s
        ({"query": "x", "filter": {"metadata": {"n": 2**64}}}, "integers must fit in 64 bits"),
        ({"query": "x", "filter": {"metadata": {"n": "0" * 5000}}}, "at most 4096 characters"),
        ({"query": "x", "filter": {"doc_idz": ["a"]}}, "Extra inputs are not permitted"),
    ],
)
def test_query_fields_keep_their_type_and_range(client: TestClient, body: dict, fragment: str) -> None:
    response = client.post("/v1/query", json=body)
    assert response.status_code == 422, response.text
    assert fragment in _detail(response)


@pytest.mark.parametrize(
    ("metadata", "fragment"),
    [
        ({"n": "0" * 5000}, "at most 4096 characters"),
        ({"n": 2**64}, "integers must fit in 64 bits"),
        ({"n": -(2**63) - 1}, "integers must fit in 64 bits"),
        ({"n": {"nested": 1}}, "metadata.n: a metadata value is a string, true or false, a 64-bit integer"),
        ({"n": None}, "metadata.n: a metadata value is a string"),
    ],
)
def test_document_metadata_is_never_silently_coerced(
    client: TestClient, metadata: dict, fragment: str
) -> None:
    response = client.post("/v1/documents", json={"doc_id": "m", "text": "words", "metadata": metadata})
    assert response.status_code == 422, response.text
    assert fragment in _detail(response)
    assert client.get("/v1/documents/m").status_code == 404


def test_metadata_keeps_exact_values(client: TestClient, plane: DataPlane) -> None:
    metadata = {"big": 2**63 - 1, "flag": True, "zeros": "000", "ratio": 0.5}
    response = client.post("/v1/documents", json={"doc_id": "exact", "text": "words", "metadata": metadata})
    assert response.status_code == 201, response.text
    assert client.get("/v1/documents/exact").json()["metadata"] == metadata


def test_unknown_upload_fields_are_refused(client: TestClient) -> None:
    response = client.post("/v1/documents", json={"doc_id": "u", "text": "words", "fromat": "html"})
    assert response.status_code == 422
    assert "fromat: Extra inputs are not permitted" in _detail(response)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"metadta": "{}"}, "unknown form fields 'metadta'"),
        ({"doc_id": ["a", "b"]}, "form fields sent more than once: doc_id"),
    ],
    ids=["misspelt", "repeated"],
)
def test_multipart_fields_the_server_would_not_read_are_refused(
    client: TestClient, fields: dict, fragment: str
) -> None:
    """A form field that would be dropped (unknown) or that would win over another (repeated) is a 422."""
    response = client.post("/v1/documents", files={"file": ("multi.txt", b"words")}, data=fields)
    assert response.status_code == 422, response.text
    assert fragment in _detail(response)
    assert client.get("/v1/documents/multi.txt").status_code == 404


@pytest.mark.parametrize(
    ("path", "raw", "field"),
    [
        ("/v1/documents", b'{"doc_id": "twice", "text": "x", "text": "y"}', "text"),
        ("/v1/documents", b'{"doc_id": "twice", "text": "x", "metadata": {"a": 1, "a": 2}}', "a"),
        ("/v1/query", b'{"query": "x", "query": "y"}', "query"),
        ("/v1/query", b'{"query": "x", "filter": {"doc_ids": ["a"], "doc_ids": ["b"]}}', "doc_ids"),
    ],
    ids=["upload", "upload-metadata", "query", "query-filter"],
)
def test_a_json_field_sent_twice_is_refused_not_the_last_one_kept(
    client: TestClient, path: str, raw: bytes, field: str
) -> None:
    response = client.post(path, content=raw, headers=RAW_JSON)
    assert response.status_code == 422, response.text
    assert _detail(response) == f"JSON field {field!r} sent more than once"
    assert client.get("/v1/documents/twice").status_code == 404


@pytest.mark.parametrize(
    "request_",
    [{"data": {"query": "x"}}, {"content": b"x", "headers": {"content-type": "text/plain"}}],
    ids=["form", "text"],
)
def test_a_query_that_is_not_json_is_415(client: TestClient, request_: dict) -> None:
    response = client.post("/v1/query", **request_)
    assert response.status_code == 415, response.text
    assert _detail(response) == "send the body as application/json"


@pytest.mark.parametrize("tenant", [5, True, "Not A Tenant", ""])
def test_the_tenant_key_holds_a_tenant_name_or_the_upload_is_refused(
    client: TestClient, tenant: object
) -> None:
    """A tenant the tenant filter could never match (a number, a name it does not allow) is a 422."""
    upload = {"doc_id": "tenanted", "text": "words", "metadata": {"faro_tenant": tenant}}
    response = client.post("/v1/documents", json=upload)
    assert response.status_code == 422, response.text
    assert "faro_tenant must be a tenant's name" in _detail(response)
    assert client.get("/v1/documents/tenanted").status_code == 404


def test_a_form_field_that_is_not_utf8_is_refused_not_read_as_latin1(client: TestClient) -> None:
    """Starlette would read the bytes as Latin-1 and store the metadata as mojibake."""
    upload = {"file": ("cafe.txt", b"words"), "doc_id": (None, b"cafe")}
    latin1 = client.post("/v1/documents", files={**upload, "metadata": (None, b'{"title": "caf\xe9"}')})
    assert latin1.status_code == 400, latin1.text
    assert _detail(latin1) == "malformed multipart body: form field 'metadata' is not utf-8 text"
    assert client.get("/v1/documents/cafe").status_code == 404
    utf8 = client.post("/v1/documents", files={**upload, "metadata": (None, '{"title": "café"}'.encode())})
    assert utf8.status_code == 201, utf8.text
    assert client.get("/v1/documents/cafe").json()["metadata"] == {"title": "café"}


def test_whole_numbers_are_integers_however_written(client: TestClient) -> None:
    """JSON Schema counts 3.0 as the integer 3; so does the API, for top_k and metadata alike."""
    metadata = {"count": 3.0, "huge": 1e17}
    response = client.post("/v1/documents", json={"doc_id": "whole", "text": "words", "metadata": metadata})
    assert response.status_code == 201, response.text
    stored = client.get("/v1/documents/whole").json()["metadata"]
    assert stored == {"count": 3, "huge": 10**17} and isinstance(stored["count"], int)
    query = {"query": "words", "top_k": 2.0, "filter": {"metadata": {"count": 3}}}
    hits = client.post("/v1/query", json=query)
    assert hits.status_code == 200, hits.text
    assert [hit["doc_id"] for hit in hits.json()["hits"]] == ["whole"]
    assert client.post("/v1/query", json={"query": "x", "top_k": 2.5}).status_code == 422


def test_the_served_schema_states_what_the_server_checks(client: TestClient) -> None:
    """Key patterns as propertyNames (patternProperties would let any other key through), int64 bounds as
    exact integers (not 9.223372036854776e+18), path ids with their pattern, multipart metadata as JSON."""
    spec = client.get("/openapi.json").json()
    text = json.dumps(spec)
    assert "patternProperties" not in text and "e+18" not in text
    metadata = spec["components"]["schemas"]["SearchFilter"]["properties"]["metadata"]["anyOf"][0]
    assert metadata["propertyNames"]["pattern"] == "^[A-Za-z0-9_-]+$"
    integer = next(
        branch for branch in metadata["additionalProperties"]["anyOf"] if branch["type"] == "integer"
    )
    assert (integer["minimum"], integer["exclusiveMaximum"]) == (-(2**63), 2**63)
    upload = spec["paths"]["/v1/documents"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert upload["schema"]["additionalProperties"] is False
    assert upload["encoding"] == {"metadata": {"contentType": "application/json"}}
    path_id = spec["paths"]["/v1/documents/{doc_id}"]["get"]["parameters"][0]["schema"]
    assert path_id["pattern"].startswith("^[A-Za-z0-9_]") and path_id["minLength"] == 1


def test_deeply_nested_multipart_metadata_is_a_422(client: TestClient) -> None:
    nested = "[" * 30_000 + "]" * 30_000
    response = client.post("/v1/documents", files={"file": ("a.txt", b"words")}, data={"metadata": nested})
    assert response.status_code == 422, response.text
    assert _detail(response).startswith("metadata ")


def test_an_oversized_streamed_multipart_body_is_a_413(client: TestClient) -> None:
    boundary = "faro-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit applies while it streams
        yield head
        for _ in range(200):
            yield b"word " * 1000

    response = client.post(
        "/v1/documents",
        content=chunks(),
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert response.status_code == 413, response.text
    assert "larger than the limit" in _detail(response)


def test_error_responses_are_documented_as_they_are_sent(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path, operations in schema["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            declared = operation["responses"]["422"]["content"]["application/json"]["schema"]
            assert declared == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)
    assert schema["components"]["schemas"]["ErrorBody"]["properties"]["detail"]["type"] == "string"
    doc_id_error = client.get("/v1/documents/bad%20id")
    assert doc_id_error.status_code == 422 and _detail(doc_id_error)


def test_405_names_every_allowed_method(client: TestClient) -> None:
    response = client.put("/v1/documents/some-doc", json={})
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"DELETE", "GET"}
    listing = client.delete("/v1/documents")
    assert listing.status_code == 405
    assert set(listing.headers["allow"].split(", ")) == {"GET", "POST"}


def test_an_empty_api_key_is_a_configuration_error() -> None:
    with pytest.raises(ValidationError, match="the API key is empty"):
        AuthConfig.model_validate({"api_key": ""})
    with pytest.raises(ValidationError, match="the API key is empty"):
        AuthConfig.model_validate({"api_key": "  "})
    assert AuthConfig.model_validate({}).api_key is None


def test_unauthenticated_requests_get_401_before_any_body_is_looked_at(plane: DataPlane) -> None:
    from faro_workloads.api.app import build_api
    from faro_workloads.api.auth import AccessCheck
    from faro_workloads.api.key_ring import KeyRing
    from faro_workloads.api.query import query_router

    access = AccessCheck(KeyRing(admin_key="sesame"))
    app = build_api("t", [query_router(plane.retriever, plane.query_config)], {}, 1024, access=access)
    with TestClient(app, raise_server_exceptions=False) as http:
        bad_body = http.post("/v1/query", content=b"{not json", headers=RAW_JSON)
        assert bad_body.status_code == 401 and bad_body.headers["www-authenticate"] == "Bearer"
        wrong = http.post("/v1/query", json={"query": "x"}, headers={"authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = http.post("/v1/query", json={"query": "x"}, headers={"authorization": "Bearer sesame"})
        assert right.status_code == 200, right.text
        assert http.get("/healthz").status_code == 200


def test_serve_commands_listen_on_loopback_unless_told() -> None:
    from faro_workloads.cli import _register_commands, cli

    _register_commands()
    for command in ("chunker", "query", "embedder"):
        result = CliRunner().invoke(cli, ["serve", command, "--help"])
        assert result.exit_code == 0
        assert "[default: 127.0.0.1]" in result.output, result.output


@pytest.fixture(params=["httptools", "h11"])
def real_server(
    plane: DataPlane, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[str]:
    """The API on uvicorn (the protocol Faro serves with, and the one on h11) with short header and body
    deadlines, as ``host:port``."""
    monkeypatch.setattr(HeaderDeadline, "header_timeout", 0.5)
    if request.param == "h11":
        monkeypatch.setattr(
            "faro_workloads.background_server.HeaderTimeoutHttpToolsProtocol", HeaderTimeoutH11Protocol
        )
    monkeypatch.setattr("faro_workloads.api.body_limit.DEFAULT_READ_TIMEOUT", 0.5)
    monkeypatch.setattr(BodySizeLimit.__init__, "__defaults__", (0.5,))
    port = free_port()
    server = BackgroundServer(plane.api(), "127.0.0.1", port)
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop()


def _exchange(address: str, *parts: bytes, pause: float = 0.0) -> bytes:
    host, port = address.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        for part in parts:
            sock.sendall(part)
            time.sleep(pause)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_a_client_stalling_mid_headers_is_cut_off(real_server: str) -> None:
    answer = _exchange(real_server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finishes the headers
    assert answer.startswith(b"HTTP/1.1 408 "), answer


def test_a_client_stalling_mid_body_gets_408(real_server: str) -> None:
    body = json.dumps({"doc_id": "slow", "text": "words " * 100}).encode()
    head = (
        f"POST /v1/documents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    answer = _exchange(real_server, head + body[:20])  # and then nothing
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"request body not received within 0.5 s" in answer


def test_a_client_leaving_mid_body_is_one_log_line(
    real_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    host, port = real_server.split(":")
    head = (
        b"POST /v1/documents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n"
    )
    caplog.set_level(logging.INFO)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + b'{"doc_id": "gone", "text": "')
        time.sleep(0.1)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any("went away" in r.getMessage() for r in caplog.records):
        time.sleep(0.05)
    assert any("client went away during POST /v1/documents" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_a_write_conflict_left_after_retries_is_a_503_to_retry() -> None:
    import psycopg
    from fastapi import APIRouter

    from faro_workloads.api.app import build_api

    router = APIRouter()

    @router.post("/v1/conflict")
    def conflict() -> None:
        raise psycopg.errors.DeadlockDetected("deadlock detected")

    with TestClient(build_api("t", [router], {}, 1024), raise_server_exceptions=False) as http:
        response = http.post("/v1/conflict")
    assert response.status_code == 503 and response.headers["retry-after"] == "1"
    assert (
        _detail(response) == "conflicting concurrent writes to the same documents; nothing was stored, retry"
    )
