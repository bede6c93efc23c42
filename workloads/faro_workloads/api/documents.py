"""``/v1/documents``: upload (multipart file or JSON text), read, list and delete documents.

The router is backed by a :class:`DocumentBackend`: in local mode the ingest service itself, in a cluster
the chunking service that hands chunks on through S3. Reading an upload is :mod:`upload_reader`'s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from faro_workloads.api.audit import audit, identity_name
from faro_workloads.api.errors import error_responses
from faro_workloads.api.strict_query import check_query
from faro_workloads.api.tenancy import held_tenant, held_upload, listed_page, visible
from faro_workloads.api.upload_reader import METADATA, Rejected, TextDocument, UploadReader
from faro_workloads.contract.settings import IngestConfig
from faro_workloads.core.document_errors import DocumentIdTaken
from faro_workloads.core.document_state import DocumentState, DocumentStatus
from faro_workloads.core.documents import (
    DOC_ID_MAX_LENGTH,
    DOC_ID_PATTERN,
    InvalidDocumentId,
    validate_doc_id,
)
from faro_workloads.core.extraction_pool import ExtractionPool, shared_pool
from faro_workloads.core.ingest import IncomingDocument, IngestResult
from faro_workloads.core.metrics import INGEST_ERROR_REASONS, INGEST_ERRORS, expose_label_values
from faro_workloads.core.search_filter import NUL_FREE
from faro_workloads.errors import InputError

# validate_doc_id checks a path's id, with a message that says what an id may hold; the schema states it.
PathDocId = Annotated[
    str, Path(min_length=1, max_length=DOC_ID_MAX_LENGTH, json_schema_extra={"pattern": DOC_ID_PATTERN})
]


class DocumentBackend(Protocol):
    """Where documents go. ``asynchronous`` backends accept work that completes later (202)."""

    asynchronous: bool

    def ingest(self, document: IncomingDocument) -> IngestResult: ...
    def delete(self, doc_id: str, held_tenant: str | None = None) -> bool:
        """Delete the document; False when it is unknown or, with ``held_tenant``, another tenant's (decided
        with the delete, so no other tenant's document can take its place in between)."""
        ...

    def get(self, doc_id: str) -> DocumentStatus | None: ...
    def list(self, limit: int = 100, after: str | None = None) -> list[DocumentStatus]: ...


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
                            **METADATA.json_schema(),
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
    reader = UploadReader(limits, extraction or shared_pool(limits.extraction_workers))

    @router.post(
        "",
        response_model=DocumentAccepted,
        status_code=201,
        openapi_extra=UPLOAD_OPENAPI,
        responses={
            200: {"model": DocumentAccepted},
            202: {"model": DocumentAccepted},
            **error_responses(400, 401, 403, 408, 409, 413, 415, 422, 503),
        },
        summary="Add or replace a document",
    )
    async def upload(request: Request, response: Response) -> DocumentAccepted:
        try:
            document = await reader.read(request)
        except Rejected as exc:
            INGEST_ERRORS.labels(exc.reason).inc()
            raise
        except HTTPException as exc:
            INGEST_ERRORS.labels(_REJECTION_REASONS.get(exc.status_code, "invalid_document")).inc()
            raise
        who = {"identity": identity_name(request), "tenant": held_tenant(request), "pipeline": pipeline}
        try:
            document = await run_in_threadpool(held_upload, document, who["tenant"], backend.get)
            result = await run_in_threadpool(backend.ingest, document)
        except (InputError, HTTPException) as exc:
            audit("document.write", **who, doc_id=document.doc_id, result="refused")
            if isinstance(exc, HTTPException):
                raise
            if isinstance(exc, DocumentIdTaken):  # lost a race for the id to another tenant's upload
                raise HTTPException(409, str(exc)) from exc
            INGEST_ERRORS.labels("invalid_document").inc()
            raise HTTPException(422, str(exc)) from exc
        audit("document.write", **who, doc_id=result.doc_id, result=result.status)
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
        request: Request,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        after: Annotated[str | None, Query(max_length=DOC_ID_MAX_LENGTH, pattern=NUL_FREE)] = None,
    ) -> DocumentList:
        check_query(request, ("limit", "after"))
        pages = lambda size, cursor: backend.list(limit=size, after=cursor)  # noqa: E731
        records, next_after = listed_page(pages, held_tenant(request), limit, after)
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
    def get_document(doc_id: PathDocId, request: Request) -> Any:
        status = visible(backend.get(_checked_id(doc_id)), held_tenant(request))
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
        tenant, checked = held_tenant(request), _checked_id(doc_id)
        deleted = backend.delete(checked, held_tenant=tenant)
        result = "deleted" if deleted else "not_found"
        audit(
            "document.delete",
            identity=identity_name(request),
            tenant=tenant,
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
