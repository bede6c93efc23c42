"""Adversarial checks of the HTTP API from its OpenAPI schema (schemathesis), plus lone surrogates by hand.

The schemathesis run is the engine the ``schemathesis run`` CLI drives (its pytest plugin does not run on
pytest 9.2): every phase (examples, coverage, fuzzing, stateful sequences), positive and negative data, and
every check that can apply to this API, against the data plane as deployed: its real limits
(``IngestConfig()``: 10 MiB documents), PostgreSQL (pgserver) and Qdrant local mode.

Strings: schemathesis generates NUL (``generation.allow-x00``) but never lone surrogates. Its default codec
(``utf-8``) cannot encode them, so Hypothesis leaves them out, and a codec that can (``unicode_escape``) does
not help: schemathesis 4.32 then fails in its own transport (``UnicodeEncodeError`` preparing multipart
bodies, query strings and paths; only JSON bodies survive, as ``\\ud800`` escapes) and Hypothesis shrinks
those errors until the test times out. So lone surrogates are sent by hand below, wherever a client can put
one: JSON ``\\ud800`` escapes in the free strings of both JSON bodies, and the UTF-8-like bytes of one
(``ED A0 80``, which no UTF-8 decoder accepts) in paths, query strings and form fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient

from faro_workloads.contract.settings import ChunkingConfig, IngestConfig
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.data_plane import DataPlane

from support.schemathesis_run import ALWAYS_RUN, PHASES_RUN, multipart_form_sent_is_valid, run_schemathesis

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fuzz_plane(pg_store_factory_module, qdrant_store_factory_module) -> Iterator[DataPlane]:
    pg = pg_store_factory_module(dimension=32)
    qdrant = qdrant_store_factory_module(pg.collection)
    plane = DataPlane(
        pg,
        qdrant,
        HashingEmbedder(dimension=32),
        chunking=ChunkingConfig(strategy="recursive", size=32, overlap=4),
        ingest=IngestConfig(),  # the deployed limits
    )
    yield plane
    plane.close()


@pytest.fixture(scope="module")
def fuzz_api(fuzz_plane: DataPlane) -> FastAPI:
    return fuzz_plane.api()


def test_schemathesis_finds_nothing_wrong(fuzz_api: FastAPI) -> None:
    """Every operation of the schema, fed generated valid and invalid requests and sequences of them,
    answers as the schema declares: never a server error, only declared statuses, content types, headers
    and bodies, invalid data refused, valid data accepted, deleted documents gone, created ones there."""
    operations = {
        result.ok().label
        for result in schemathesis.openapi.from_asgi("/openapi.json", fuzz_api).get_all_operations()
    }
    assert operations >= {
        "POST /v1/documents",
        "GET /v1/documents",
        "GET /v1/documents/{doc_id}",
        "DELETE /v1/documents/{doc_id}",
        "POST /v1/query",
    }
    run = run_schemathesis(fuzz_api)
    assert set(run.checks_run) >= ALWAYS_RUN, f"checks that never ran: {ALWAYS_RUN - set(run.checks_run)}"
    assert run.phases_run >= PHASES_RUN, f"phases that sent nothing: {PHASES_RUN - run.phases_run}"
    assert not run.findings and not run.errors, run.report()


JSON = "application/json"
FORM_BOUNDARY = "faro-fuzz-boundary"
MULTIPART = f"multipart/form-data; boundary={FORM_BOUNDARY}"
SURROGATE = b"\xed\xa0\x80"  # U+D800 as UTF-8 would spell it, if UTF-8 allowed surrogates (it does not)


def _form(**fields: bytes) -> bytes:
    """A multipart upload of a small text file plus ``fields``, as raw bytes."""
    parts = [(b'name="file"; filename="a.txt"', b"hello")]
    parts += [(b'name="%s"' % name.encode(), value) for name, value in fields.items()]
    boundary = b"--" + FORM_BOUNDARY.encode()
    body = b"".join(
        b"%s\r\nContent-Disposition: form-data; %s\r\n\r\n%s\r\n" % (boundary, *part) for part in parts
    )
    return body + boundary + b"--\r\n"


Q, D = "/v1/query", "/v1/documents"
# id: (method, URL, content type, raw body), each with one lone surrogate (a JSON escape, or its bytes in
# a URL or form field), where the issue asks for a refusal.
SURROGATE_REQUESTS: dict[str, tuple[str, str, str | None, bytes | None]] = {
    "query-text": ("POST", Q, JSON, rb'{"query": "a\ud800b"}'),
    "query-text-low-half": ("POST", Q, JSON, rb'{"query": "\udfff"}'),
    "query-text-reversed-pair": ("POST", Q, JSON, rb'{"query": "\udc00\ud800 x"}'),
    "query-filter-value": ("POST", Q, JSON, rb'{"query": "x", "filter": {"metadata": {"k": "\ud800"}}}'),
    "query-filter-key": ("POST", Q, JSON, rb'{"query": "x", "filter": {"metadata": {"k\udbff": 1}}}'),
    "query-filter-doc-id": ("POST", Q, JSON, rb'{"query": "x", "filter": {"doc_ids": ["a\ud800"]}}'),
    "document-text": ("POST", D, JSON, rb'{"text": "a\ud800b"}'),
    "document-metadata-value": ("POST", D, JSON, rb'{"text": "t", "metadata": {"k": "\udfff"}}'),
    "document-metadata-key": ("POST", D, JSON, rb'{"text": "t", "metadata": {"\ud800": "v"}}'),
    "document-id": ("POST", D, JSON, rb'{"text": "t", "doc_id": "d\ud800"}'),
    "upload-metadata-value": ("POST", D, MULTIPART, _form(metadata=rb'{"k": "\ud800"}')),
    "get-path": ("GET", f"{D}/%ED%A0%80", None, None),
    "delete-path": ("DELETE", f"{D}/a/%ED%A0%80", None, None),
}
# Lone-surrogate bytes where Starlette decodes the text before the API sees it (a query string with U+FFFD
# for what is not UTF-8, a form field as Latin-1): the API may take the decoded text, but answers cleanly.
UNDECODABLE_REQUESTS: dict[str, tuple[str, str, str | None, bytes | None]] = {
    "list-after": ("GET", f"{D}?after=%ED%A0%80", None, None),
    "upload-metadata-bytes": ("POST", D, MULTIPART, _form(metadata=b'{"k": "%s"}' % SURROGATE)),
    "upload-doc-id-bytes": ("POST", D, MULTIPART, _form(doc_id=b"d%s" % SURROGATE)),
    "upload-format-bytes": ("POST", D, MULTIPART, _form(format=SURROGATE)),
}


def _send(
    app: FastAPI, method: str, url: str, content_type: str | None, body: bytes | None
) -> tuple[int, str]:
    """The status and the body (decoded as strict UTF-8: the answer itself must be valid) of one request."""
    headers = {"content-type": content_type} if content_type else {}
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.request(method, url, content=body, headers=headers)
    if response.status_code >= 400:
        assert response.headers["content-type"] == JSON, response.headers
    return response.status_code, response.content.decode("utf-8")


def _assert_one_line_error(text: str) -> None:
    answer = json.loads(text)
    assert isinstance(answer, dict) and list(answer) == ["detail"] and isinstance(answer["detail"], str), (
        answer
    )
    detail = answer["detail"]
    assert detail and "\n" not in detail and not re.search("[\ud800-\udfff]", detail), detail


@pytest.mark.parametrize("request_id", SURROGATE_REQUESTS)
def test_a_lone_surrogate_is_refused_with_a_one_line_error(fuzz_api: FastAPI, request_id: str) -> None:
    status, text = _send(fuzz_api, *SURROGATE_REQUESTS[request_id])
    assert 400 <= status < 500, (status, text)
    _assert_one_line_error(text)


@pytest.mark.parametrize("request_id", UNDECODABLE_REQUESTS)
def test_undecodable_text_gets_a_clean_answer(fuzz_api: FastAPI, request_id: str) -> None:
    status, text = _send(fuzz_api, *UNDECODABLE_REQUESTS[request_id])
    assert status < 500, (status, text)
    json.loads(text)
    if status >= 400:
        _assert_one_line_error(text)


@pytest.mark.parametrize(
    ("fields", "valid"),
    [
        ({"doc_id": "null"}, True),  # what a null doc_id becomes in a multipart form: a valid id
        ({}, True),  # what an array doc_id becomes: no part at all
        ({"doc_id": "../escape"}, False),
        ({"format": "pdf"}, False),
        ({"metadata": '{"team": "docs"}'}, True),
        ({"metadata": "not json"}, False),
    ],
)
def test_a_negative_multipart_case_is_judged_by_the_form_actually_sent(fields: dict, valid: bool) -> None:
    import requests

    request = requests.Request(
        "POST", "http://test/v1/documents", files={"file": ("a.txt", b"text")}, data=fields
    ).prepare()
    assert multipart_form_sent_is_valid(request) is valid
