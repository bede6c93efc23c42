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

import email.policy
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure
from schemathesis.engine import Status, events, from_schema

from faro_workloads.api.documents import UPLOAD_OPENAPI
from faro_workloads.contract.settings import ChunkingConfig, IngestConfig
from faro_workloads.core.document_errors import UnsupportedDocument
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.text_extraction import extract_text
from faro_workloads.data_plane import DataPlane

pytestmark = pytest.mark.integration

# Per operation and phase. Each run draws new examples (FARO_FUZZ_SEED=<seed> replays a run); raise it
# locally to search harder (FARO_FUZZ_EXAMPLES=1000).
FUZZ_EXAMPLES = int(os.environ.get("FARO_FUZZ_EXAMPLES", "100"))
FUZZ_SEED = os.environ.get("FARO_FUZZ_SEED")

# Checks that cannot apply to this API, for a reason of principle. (max_response_time is not set either:
# CI machines are shared, and the project's tests assert no wall-clock speed.)
NOT_APPLICABLE_CHECKS = (
    # Checks that an operation enforces the security its schema declares. The data plane's API has no key
    # (DataPlane.api takes none) and its schema declares no security scheme, so there is nothing to check.
    "ignored_auth",
    # Needs several identities owning different resources; there is one key at most, and no owners.
    "object_level_authorization",
)
# Checks every response must have been handed to (so a config change cannot quietly drop one).
ALWAYS_RUN = {
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
}
# Phases that must have sent requests (the examples phase has nothing to do: the schema holds no examples).
PHASES_RUN = {"coverage", "fuzzing", "stateful"}
_UPLOAD = "POST /v1/documents"
UPLOAD_FORM_SCHEMA = UPLOAD_OPENAPI["requestBody"]["content"]["multipart/form-data"]["schema"]


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


@dataclass
class Finding:
    check: str
    phase: str
    case: schemathesis.Case
    failure: Failure
    curl: str
    response: schemathesis.Response | None

    @property
    def cause(self) -> tuple[str, str, str]:
        """What tells causes apart: the check, the operation and the answer (status and error text)."""
        answer = "no response"
        if self.response is not None:
            answer = f"HTTP {self.response.status_code} {_detail_shape(self.response.content)}"
        return self.check, self.case.operation.label, answer


def _detail(content: bytes) -> str | None:
    """The ``detail`` of an error answer, if it is one line of text as it should be."""
    try:
        answer = json.loads(content)
    except ValueError:
        return None
    detail = answer.get("detail") if isinstance(answer, dict) else None
    return detail if isinstance(detail, str) else None


def _detail_shape(content: bytes) -> str:
    """An error answer's detail without the input it quotes (field names, values, numbers), so answers of
    one cause look alike: ``metadata.<any key>.[key]: ... (and 3 more problems)`` -> ``metadata: ...``."""
    detail = _detail(content)
    if detail is None:
        return repr(content[:60])
    where, colon, what = detail.partition(": ")
    if colon and (" " not in where or where.endswith(".[key]")):  # a location: keep its first field only
        detail = f"{where.split('.')[0]}: {what}"
    detail = re.sub(r" \(and \d+ more problems?\)$", "", detail)
    return re.sub(r"'.*'|\d+", "…", detail)[:100]


@dataclass
class FuzzRun:
    seed: int
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    unsendable_negatives: int = 0
    checks_run: dict[str, int] = field(default_factory=dict)
    phases_run: set[str] = field(default_factory=set)
    content_verdicts: int = 0

    def report(self) -> str:
        causes: dict[tuple[str, str, str], list[Finding]] = {}
        for finding in self.findings:
            causes.setdefault(finding.cause, []).append(finding)
        lines = [f"schemathesis found {len(causes)} causes (replay with FARO_FUZZ_SEED={self.seed})"]
        for (check, operation, answer), found in causes.items():
            first = found[0]
            lines += [
                f"--- {check} on {operation}: {answer} ({len(found)}x, first in {first.phase})",
                str(first.failure).strip(),
                first.curl.strip(),
            ]
            if first.response is not None:
                lines.append(f"-> {first.response.status_code} {first.response.content[:300]!r}")
        lines += [f"--- error: {error}" for error in self.errors]
        return "\n".join(lines)


def _content_verdicts(case: schemathesis.Case) -> set[str]:
    """Why the project's text extraction refuses the document ``case`` uploads, under each format the
    server may have read it as (its ``format``, or for a file without one, the one its name suggests)."""
    body = case.body if isinstance(case.body, dict) else {}
    data = body.get("file", body.get("text"))
    data = getattr(data, "data", data)  # a generated file is a str subclass holding its bytes in .data
    if not isinstance(data, str | bytes):
        return set()
    limits = IngestConfig()
    fmt = body.get("format")
    verdicts = set()
    for candidate in [fmt] if fmt in ("text", "markdown", "html") else ["text", "markdown", "html"]:
        try:
            extract_text(data, candidate, limits.max_html_depth, limits.max_html_elements)
        except UnsupportedDocument as exc:
            verdicts.add(str(exc))
    return verdicts


def _multipart_form_sent_is_valid(request: Any) -> bool:
    """Whether the multipart form actually sent is valid by the upload's schema.

    A multipart form carries strings only: a "negative" case whose fields are of another type (null, a
    number, an array) reaches the server as text or not at all, and may then be a valid upload. Accepting
    it is right; only an invalid form that was accepted is a finding. Anything that cannot be read back
    counts as a finding."""
    content_type = request.headers.get("Content-Type", "")
    body = request.body if isinstance(request.body, bytes) else None
    if not content_type.startswith("multipart/form-data") or body is None:
        return False
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    if not message.is_multipart():
        return False
    form: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str) or name in form:
            return False
        payload = part.get_payload(decode=True)
        form[name] = "binary" if name == "file" else (payload or b"").decode("utf-8", "strict")
    if "metadata" in form:
        try:
            form["metadata"] = json.loads(form["metadata"])
        except ValueError:
            return False
    return not list(Draft202012Validator(UPLOAD_FORM_SCHEMA).iter_errors(form))


def run_schemathesis(app: FastAPI) -> FuzzRun:
    """One schemathesis run over ``app``, as the CLI would make it, with what it found."""
    config = SchemathesisConfig.from_dict(
        {
            **({"seed": int(FUZZ_SEED)} if FUZZ_SEED else {}),
            "continue-on-failure": True,  # every failing check of an operation, not only the first
            "generation": {
                "mode": "all",
                "max-examples": FUZZ_EXAMPLES,
                "allow-x00": True,
                # No example database: with one, Hypothesis shrinks a Pareto front of schemathesis's
                # success-rate target by replaying choice sequences that schemathesis's strategies (rebuilt
                # from what earlier responses taught them) do not reproduce, and crashes now and then
                # (IndexError "Index N out of range [-M, M)" in hypothesis' shrinker). It would also make a
                # run depend on .hypothesis/, not only on FARO_FUZZ_SEED.
                "database": "none",
            },
            "checks": {
                "enabled": True,
                **{name: {"enabled": False} for name in NOT_APPLICABLE_CHECKS},
                # A valid read of a deleted document is answered 410 Gone (with its state), as the schema
                # declares; the stateful phase deletes documents it then reads.
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "410", "429", "5xx"]
                },
            },
            "phases": {name: {"enabled": True} for name in ("examples", "coverage", "fuzzing", "stateful")},
        }
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    run = FuzzRun(seed=config.seed)

    @schema.hook
    def filter_failure(
        context: schemathesis.HookContext,
        failure: Failure,
        case: schemathesis.Case,
        response: schemathesis.Response,
    ) -> bool:
        """positive_data_acceptance cannot apply to what a document says: which bytes are a document with
        text in it (not binary, not empty, HTML within the shape limits) is the extractor's verdict, and no
        JSON Schema can state it. So a valid upload the server refuses with exactly the verdict the
        project's extractor gives on its content is not a finding; any other refusal is."""
        content_verdict = (
            "positive_data_acceptance" in failure.checks
            and case.operation.label == _UPLOAD
            and response.status_code == 422
            and _detail(response.content) in _content_verdicts(case)
        )
        run.content_verdicts += content_verdict
        unsendable = (
            "negative_data_rejection" in failure.checks
            and case.operation.label == _UPLOAD
            and response.status_code < 300
            and _multipart_form_sent_is_valid(response.request)
        )
        run.unsendable_negatives += unsendable
        return not (content_verdict or unsendable)

    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            if event.status != Status.SKIP and event.recorder.interactions:
                run.phases_run.add(event.phase.value)
            _collect(run, event)
        elif isinstance(event, events.NonFatalError):
            run.errors.append(f"{event.label} ({event.phase}): {event.info.message}")
        elif isinstance(event, events.FatalError):
            run.errors.append(f"fatal: {event.exception!r}")
    return run


def _collect(run: FuzzRun, event: events.ScenarioFinished) -> None:
    recorder = event.recorder
    for case_id, checks in recorder.checks.items():
        for check in checks:
            run.checks_run[check.name] = run.checks_run.get(check.name, 0) + 1
            if check.status != Status.FAILURE or check.failure_info is None:
                continue
            interaction = recorder.interactions.get(case_id)
            run.findings.append(
                Finding(
                    check=check.name,
                    phase=event.phase.value,
                    case=recorder.cases[case_id].value,
                    failure=check.failure_info.failure,
                    curl=check.failure_info.code_sample,
                    response=interaction.response if interaction is not None else None,
                )
            )


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
    assert _multipart_form_sent_is_valid(request) is valid
