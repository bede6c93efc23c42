"""Reading an upload of the documents API: JSON text or a multipart file (with its form fields) turned
into an :class:`IncomingDocument`, with bounded work: the body's size is the middleware's, the form's parts
and fields are bounded here, the text extraction runs in the extraction pool under the ingest limits."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException

from faro_workloads.api.errors import one_line
from faro_workloads.api.strict_form import read_form
from faro_workloads.api.strict_json import refuse_repeated_fields
from faro_workloads.contract.access import TENANT_KEY, TENANT_PATTERN
from faro_workloads.contract.settings import IngestConfig
from faro_workloads.core.document_errors import DocumentTooComplex, UnsupportedDocument
from faro_workloads.core.documents import (
    DOC_ID_MAX_LENGTH,
    DOC_ID_PATTERN,
    InvalidDocumentId,
    content_hash,
    doc_id_from_path,
    validate_doc_id,
)
from faro_workloads.core.extraction_pool import ExtractionPool
from faro_workloads.core.ingest import IncomingDocument
from faro_workloads.core.search_filter import NUL_FREE, KeysNamedByPattern, MetadataKey, MetadataValue
from faro_workloads.core.text_extraction import ExtractedDocument, SourceFormat, detect_format

DocId = Annotated[str, Field(min_length=1, max_length=DOC_ID_MAX_LENGTH, pattern=DOC_ID_PATTERN)]


def _tenant_named_as_tenants_are(metadata: dict[str, Any]) -> dict[str, Any]:
    """The reserved tenant key, when an upload names it, holds a tenant's name (a string the tenant filter
    can match), never another type."""
    tenant = metadata.get(TENANT_KEY)
    if tenant is not None and not (isinstance(tenant, str) and re.fullmatch(TENANT_PATTERN, tenant)):
        raise ValueError(f"{TENANT_KEY} must be a tenant's name (a string matching {TENANT_PATTERN})")
    return metadata


Metadata = Annotated[
    dict[MetadataKey, MetadataValue],
    Field(max_length=64),
    KeysNamedByPattern(),
    AfterValidator(_tenant_named_as_tenants_are),
]
METADATA = TypeAdapter(Metadata)
# A metadata form field is at most 64 entries of at most 4 KiB each, plus JSON punctuation.
MAX_METADATA_FIELD_CHARS = 64 * (4096 + 256)


class TextDocument(BaseModel):
    """A document sent as JSON."""

    model_config = ConfigDict(extra="forbid")

    doc_id: DocId | None = Field(None, description="Stable id; derived from the content hash when absent.")
    # NUL is refused by _read_json with its own message; the pattern states it in the schema.
    text: str = Field(
        ..., min_length=1, description="The document's content.", json_schema_extra={"pattern": NUL_FREE}
    )
    format: SourceFormat = Field("text", description="How to read text: text, markdown or html.")
    metadata: Metadata = Field(default_factory=dict, description="Flat key/value metadata for filters.")


class Rejected(HTTPException):
    """An upload refused with a reason for faro_ingest_errors_total."""

    def __init__(self, status: int, detail: str, reason: str) -> None:
        super().__init__(status, detail)
        self.reason = reason


class UploadReader:
    """Turns an upload request into an :class:`IncomingDocument`, with bounded work: the body's size is
    the middleware's, the text extraction runs in the pool under ``limits``."""

    def __init__(self, limits: IngestConfig, extraction: ExtractionPool) -> None:
        self._limits = limits
        self._extraction = extraction

    async def read(self, request: Request) -> IncomingDocument:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/json":
            return await self._read_json(request)
        if content_type == "multipart/form-data":
            return await self._read_multipart(request)
        raise HTTPException(415, "send the document as application/json or multipart/form-data")

    async def _read_json(self, request: Request) -> IncomingDocument:
        raw = await request.body()
        try:
            body = TextDocument.model_validate_json(raw)
        except ValidationError as exc:
            raise HTTPException(422, one_line(exc)) from exc
        await run_in_threadpool(refuse_repeated_fields, raw)  # up to the body limit: off the event loop
        if "\x00" in body.text:
            raise HTTPException(422, "document text contains NUL characters")
        extracted = await self._extract(body.text, body.format)
        doc_id = body.doc_id or f"doc-{content_hash(extracted.text)[:16]}"
        return IncomingDocument(
            doc_id=doc_id,
            text=extracted.text,
            source="api:json",
            fmt=body.format,
            metadata=extracted.metadata_with_title(body.metadata),
        )

    async def _read_multipart(self, request: Request) -> IncomingDocument:
        try:
            form = await read_form(
                request, max_files=1, max_fields=8, max_part_size=self._limits.max_body_bytes
            )
        except MultiPartException as exc:
            raise HTTPException(400, f"malformed multipart body: {exc.message}") from exc
        try:
            return await self._document_of_form(form)
        finally:
            await form.close()

    async def _document_of_form(self, form: FormData) -> IncomingDocument:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, "multipart upload needs a 'file' part")
        _check_form_fields(form)
        data = await upload.read()
        fmt_field = form.get("format")
        if fmt_field is not None and fmt_field not in ("text", "markdown", "html"):
            raise HTTPException(422, "format must be one of text, markdown, html")
        fmt: SourceFormat = fmt_field or detect_format(upload.filename, upload.content_type)  # type: ignore[assignment]
        metadata = _parse_metadata(form.get("metadata"))
        doc_id_field = form.get("doc_id")
        extracted = await self._extract(data, fmt)
        text = extracted.text
        try:
            if isinstance(doc_id_field, str) and doc_id_field:
                doc_id = validate_doc_id(doc_id_field)
            elif upload.filename:
                doc_id = doc_id_from_path(upload.filename)
            else:
                doc_id = f"doc-{content_hash(text)[:16]}"
        except InvalidDocumentId as exc:
            raise HTTPException(422, str(exc)) from exc
        source = f"upload:{upload.filename}" if upload.filename else "upload"
        return IncomingDocument(
            doc_id=doc_id, text=text, source=source, fmt=fmt, metadata=extracted.metadata_with_title(metadata)
        )

    async def _extract(self, data: bytes | str, fmt: SourceFormat) -> ExtractedDocument:
        try:
            return await self._extraction.extract(data, fmt, self._limits)
        except DocumentTooComplex as exc:
            raise Rejected(422, str(exc), "too_complex") from exc
        except UnsupportedDocument as exc:
            raise HTTPException(422, str(exc)) from exc


_FORM_FIELDS = ("file", "doc_id", "metadata", "format")


def _check_form_fields(form: FormData) -> None:
    """An upload's form holds each known field at most once and nothing else: a field the server would not
    read is refused rather than dropped."""
    names = [name for name, _ in form.multi_items()]
    unknown = sorted({name for name in names if name not in _FORM_FIELDS})
    if unknown:
        listed = ", ".join(repr(name) for name in unknown[:3]) + (" ..." if len(unknown) > 3 else "")
        raise HTTPException(
            422, f"unknown form fields {listed}; an upload may hold {', '.join(_FORM_FIELDS)}"
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise HTTPException(422, f"form fields sent more than once: {', '.join(repeated)}")


def _parse_metadata(raw: object) -> dict[str, MetadataValue]:
    """The metadata form field: a flat JSON object, parsed with bounded size and nesting."""
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        raise HTTPException(422, "metadata must be a JSON object in a form field")
    if len(raw) > MAX_METADATA_FIELD_CHARS:
        raise HTTPException(422, f"metadata is longer than {MAX_METADATA_FIELD_CHARS} characters")
    try:
        return METADATA.validate_json(raw)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            raise HTTPException(422, f"metadata is not valid JSON: {exc.errors()[0]['msg']}") from exc
        raise HTTPException(
            422, f"metadata must be a flat JSON object of strings, numbers and booleans ({one_line(exc)})"
        ) from exc
