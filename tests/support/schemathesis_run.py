"""A schemathesis run over a FastAPI app, the way the ``schemathesis run`` CLI drives its engine (its pytest
plugin does not run on pytest 9.2): every phase, positive and negative data, every check that can apply to
Faro's API, and what it found, grouped by cause. ``tests/integration/test_api_fuzz.py`` says why each
setting is what it is.
"""

from __future__ import annotations

import email.policy
import json
import os
import re
from dataclasses import dataclass, field
from email.parser import BytesParser
from typing import Any

import schemathesis
from fastapi import FastAPI
from jsonschema import Draft202012Validator
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import Failure
from schemathesis.engine import Status, events, from_schema

from faro_workloads.api.documents import UPLOAD_OPENAPI
from faro_workloads.contract.settings import IngestConfig
from faro_workloads.core.document_errors import UnsupportedDocument
from faro_workloads.core.text_extraction import extract_text

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
    responses: list[tuple[str, int, bytes]] = field(default_factory=list)
    """(operation, status, body) of every response."""

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


def multipart_form_sent_is_valid(request: Any) -> bool:
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


def run_schemathesis(
    app: FastAPI, headers: dict[str, str] | None = None, max_examples: int = FUZZ_EXAMPLES
) -> FuzzRun:
    """One schemathesis run over ``app``, as the CLI would make it, with what it found; every request sends
    ``headers`` (e.g. a key), and every response is kept (``FuzzRun.responses``)."""
    config = SchemathesisConfig.from_dict(
        {
            **({"headers": headers} if headers else {}),
            **({"seed": int(FUZZ_SEED)} if FUZZ_SEED else {}),
            "continue-on-failure": True,  # every failing check of an operation, not only the first
            "generation": {
                "mode": "all",
                "max-examples": max_examples,
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
            and multipart_form_sent_is_valid(response.request)
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
    for case_id, interaction in recorder.interactions.items():
        if interaction.response is not None:
            label = recorder.cases[case_id].value.operation.label
            run.responses.append((label, interaction.response.status_code, interaction.response.content))
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
