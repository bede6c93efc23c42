"""``/v1/documents``: upload (multipart file or JSON text), read, list and delete documents.

The router is backed by a :class:`DocumentBackend`: in local mode the ingest service itself, in a cluster
the chunking service that hands chunks on through S3.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.datastructures import FormData, UploadFile
from starlette.formparsers import MultiPartException

from faro_workloads.api.audit import audit, identity_name
from faro_workloads.api.errors import error_responses, one_line
from faro_workloads.api.strict_form import read_form
from faro_workloads.contract.settings import IngestConfig
from faro_workloads.core.document_errors import DocumentTooComplex, UnsupportedDocument
from faro_workloads.core.document_state import DocumentState, DocumentStatus
from faro_workloads.core.documents import (
    DOC_ID_MAX_LENGTH,
    DOC_ID_PATTERN,
    InvalidDocumentId,
    content_hash,
    doc_id_from_path,
    validate_doc_id,
)
from faro_workloads.core.extraction_pool import ExtractionPool, shared_pool
from faro_workloads.core.ingest import IncomingDocument, IngestResult
from faro_workloads.core.metrics import INGEST_ERROR_REASONS, INGEST_ERRORS, expose_label_values
from faro_workloads.core.search_filter import NUL_FREE, KeysNamedByPattern, MetadataKey, MetadataValue
from faro_workloads.core.text_extraction import ExtractedDocument, SourceFormat, detect_format
from faro_workloads.errors import InputError

DocId = Annotated[str, Field(min_length=1, max_length=DOC_ID_MAX_LENGTH, pattern=DOC_ID_PATTERN)]
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=64), KeysNamedByPattern()]
_METADATA = TypeAdapter(Metadata)
# validate_doc_id checks a path's id, with a message that says what an id may hold; the schema states it.
PathDocId = Annotated[
    str, Path(min_length=1, max_length=DOC_ID_MAX_LENGTH, json_schema_extra={"pattern": DOC_ID_PATTERN})
]
# A metadata form field is at most 64 entries of at most 4 KiB each, plus JSON punctuation.
MAX_METADATA_FIELD_CHARS = 64 * (4096 + 256)


class DocumentBackend(Protocol):
    """Where documents go. ``asynchronous`` backends accept work that completes later (202)."""

    asynchronous: bool

    def ingest(self, document: IncomingDocument) -> IngestResult: ...
    def delete(self, doc_id: str) -> bool: ...
    def get(self, doc_id: str) -> DocumentStatus | None: ...
    def list(self, limit: int = 100, after: str | None = None) -> list[DocumentStatus]: ...


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


class DocumentAccepted(BaseModel):
    doc_id: str
    status: Literal["created", "replaced", "unchanged", "accepted"]
    chunks: int | None = Field(None, description="Chunks stored (None while processing is asynchronous).")
    content_hash: str


class DocumentInfo(BaseModel):
    """A document and where it stands. The version fields are those of the acknowledged version (None for
    a deleted document, or one known only by its failure)."""

    doc_id: str
    state: DocumentState = Field(
        ...,
        description="accepted (queued), embedded (in PostgreSQL, Qdrant write queued), searchable (both "
        "stores), failed (see reason), deleting or deleted.",
    )
    reason: str | None = Field(None, description="Why the document failed.")
    content_hash: str | None
    indexed_content_hash: str | None = Field(
        None, description="The version queries find now (during a replace, the previous one)."
    )
    source: str | None
    chunks: int | None
    metadata: dict[str, Any]
    updated_at: datetime | None = Field(None, description="When the document reached its state.")

    @classmethod
    def of(cls, status: DocumentStatus) -> DocumentInfo:
        record = status.record
        return cls(
            doc_id=status.doc_id,
            state=status.state,
            reason=status.reason,
            content_hash=record.content_hash if record else None,
            indexed_content_hash=status.indexed_hash,
            source=record.source if record else None,
            chunks=record.chunk_count if record else None,
            metadata=record.metadata if record else {},
            updated_at=status.at,
        )


class DocumentList(BaseModel):
    documents: list[DocumentInfo]
    next_after: str | None = Field(None, description="Pass as 'after' for the next page.")


UPLOAD_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": TextDocument.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "doc_id": {
                            "type": "string",
                            "pattern": DOC_ID_PATTERN,
                            "maxLength": DOC_ID_MAX_LENGTH,
                        },
                        "metadata": {
                            **_METADATA.json_schema(),
                            "description": "Flat key/value metadata for filters, as a JSON object",
                        },
                        "format": {"type": "string", "enum": ["text", "markdown", "html"]},
                    },
                    "additionalProperties": False,
                },
                "encoding": {"metadata": {"contentType": "application/json"}},
            },
        },
    }
}


# faro_ingest_errors_total's reason for an upload rejected by status code.
_REJECTION_REASONS = {
    400: "invalid_document",
    408: "invalid_document",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_document",
}


class _Rejected(HTTPException):
    """An upload refused with a reason for faro_ingest_errors_total."""

    def __init__(self, status: int, detail: str, reason: str) -> None:
        super().__init__(status, detail)
        self.reason = reason


def documents_router(
    backend: DocumentBackend,
    limits: IngestConfig,
    extraction: ExtractionPool | None = None,
    pipeline: str | None = None,
) -> APIRouter:
    """The documents API over ``backend``; uploads are extracted by ``extraction`` (the process's shared
    pool by default) under ``limits``. Every write and delete leaves an audit line naming ``pipeline``."""
    router = APIRouter(prefix="/v1/documents", tags=["documents"])
    expose_label_values(INGEST_ERRORS, INGEST_ERROR_REASONS)
    reader = _UploadReader(limits, extraction or shared_pool(limits.extraction_workers))

    @router.post(
        "",
        response_model=DocumentAccepted,
        status_code=201,
        openapi_extra=UPLOAD_OPENAPI,
        responses={
            200: {"model": DocumentAccepted},
            202: {"model": DocumentAccepted},
            **error_responses(400, 401, 408, 413, 415, 422, 503),
        },
        summary="Add or replace a document",
    )
    async def upload(request: Request, response: Response) -> DocumentAccepted:
        try:
            document = await reader.read(request)
        except _Rejected as exc:
            INGEST_ERRORS.labels(exc.reason).inc()
            raise
        except HTTPException as exc:
            INGEST_ERRORS.labels(_REJECTION_REASONS.get(exc.status_code, "invalid_document")).inc()
            raise
        who = identity_name(request)
        try:
            result = await run_in_threadpool(backend.ingest, document)
        except InputError as exc:
            INGEST_ERRORS.labels("invalid_document").inc()
            audit("document.write", identity=who, pipeline=pipeline, doc_id=document.doc_id, result="refused")
            raise HTTPException(422, str(exc)) from exc
        audit("document.write", identity=who, pipeline=pipeline, doc_id=result.doc_id, result=result.status)
        if result.status == "accepted":
            response.status_code = 202
        elif result.status != "created":
            response.status_code = 200
        return DocumentAccepted(
            doc_id=result.doc_id, status=result.status, chunks=result.chunks, content_hash=result.content_hash
        )

    @router.get(
        "",
        response_model=DocumentList,
        responses=error_responses(401, 422, 503),
        summary="List documents by id",
    )
    def list_documents(
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        after: Annotated[str | None, Query(max_length=DOC_ID_MAX_LENGTH, pattern=NUL_FREE)] = None,
    ) -> DocumentList:
        records = backend.list(limit=limit, after=after)
        next_after = records[-1].doc_id if len(records) == limit else None
        return DocumentList(documents=[DocumentInfo.of(r) for r in records], next_after=next_after)

    @router.get(
        "/{doc_id:path}",
        response_model=DocumentInfo,
        responses={
            410: {"model": DocumentInfo, "description": "The document was deleted: its state, since when."},
            **error_responses(401, 404, 422, 503),
        },
        summary="Read a document and its state",
    )
    def get_document(doc_id: PathDocId) -> Any:
        status = backend.get(_checked_id(doc_id))
        if status is None:
            raise HTTPException(404, f"document {doc_id!r} not found")
        info = DocumentInfo.of(status)
        if status.state is DocumentState.DELETED:
            return JSONResponse(info.model_dump(mode="json"), status_code=410)
        return info

    delete_status = 202 if backend.asynchronous else 204

    @router.delete(
        "/{doc_id:path}",
        status_code=delete_status,
        responses=error_responses(401, 404, 422, 503),
        summary="Delete a document",
    )
    def delete_document(doc_id: PathDocId, request: Request) -> Response:
        deleted = backend.delete(_checked_id(doc_id))
        result = "deleted" if deleted else "not_found"
        audit(
            "document.delete",
            identity=identity_name(request),
            pipeline=pipeline,
            doc_id=doc_id,
            result=result,
        )
        if not deleted:
            raise HTTPException(404, f"document {doc_id!r} not found")
        return Response(status_code=delete_status)

    return router


def _checked_id(doc_id: str) -> str:
    try:
        return validate_doc_id(doc_id)
    except InvalidDocumentId as exc:
        raise HTTPException(422, str(exc)) from exc


class _UploadReader:
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
        try:
            body = TextDocument.model_validate_json(await request.body())
        except ValidationError as exc:
            raise HTTPException(422, one_line(exc)) from exc
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
            raise _Rejected(422, str(exc), "too_complex") from exc
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
        return _METADATA.validate_json(raw)
    except ValidationError as exc:
        if exc.errors()[0]["type"] == "json_invalid":
            raise HTTPException(422, f"metadata is not valid JSON: {exc.errors()[0]['msg']}") from exc
        raise HTTPException(
            422, f"metadata must be a flat JSON object of strings, numbers and booleans ({one_line(exc)})"
        ) from exc
