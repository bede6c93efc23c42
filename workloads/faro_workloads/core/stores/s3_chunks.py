"""S3 adapter for chunk objects and tombstones (boto3)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from faro_workloads.contract.access import TENANT_KEY
from faro_workloads.core.census import ListedObject
from faro_workloads.core.chunk_objects import ChunkObject, ChunkObjectLayout, MalformedChunkObject
from faro_workloads.core.document_errors import DocumentIdTaken
from faro_workloads.core.document_state import Acknowledgement
from faro_workloads.core.documents import DocumentRecord, metadata_digest
from faro_workloads.core.metrics import STORE_SECONDS
from faro_workloads.errors import DependencyUnavailable

_METADATA_HEADER_LIMIT = 1500  # S3 allows 2 KB of user metadata in all
CONDITIONAL_WRITE_ATTEMPTS = 8
# What S3 answers a conditional write whose condition no longer holds (412), or that raced another
# conditional write of the key (409); moto answers the first.
_CONDITION_FAILED = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")


class S3Contention(DependencyUnavailable):
    """A chunk object changed under every conditional write tried (transient: send the document again)."""

    dependency = "S3"


MISSING_CODES = ("404", "NoSuchKey", "NotFound")
"""What S3 (and moto) answer for an object that is not there: GET says NoSuchKey, HEAD a bare 404."""


def missing(exc: ClientError) -> bool:
    """Whether ``exc`` says the object (or version) is not there."""
    return exc.response.get("Error", {}).get("Code") in MISSING_CODES


def condition_failed(exc: ClientError) -> bool:
    """Whether ``exc`` says a conditional write or delete found another version than its condition named."""
    return exc.response.get("Error", {}).get("Code") in _CONDITION_FAILED


def normal_etag(etag: str) -> str:
    """An S3 ETag without its quotes (GET, HEAD and listings all quote it)."""
    return etag.strip('"')


class S3ChunkStore:
    """Reads and writes one pipeline's chunk objects in one bucket."""

    def __init__(self, client: Any, bucket: str, layout: ChunkObjectLayout) -> None:
        self._s3 = client
        self.bucket = bucket
        self.layout = layout

    def healthy(self) -> bool:
        try:
            self._s3.head_bucket(Bucket=self.bucket)
            return True
        except Exception:
            return False

    def put_document(self, obj: ChunkObject, held_tenant: str | None = None) -> bool:
        """Write the document's chunk object unless the stored one has the same content hash and metadata
        and was cut the same way (the same chunking fingerprint).

        Returns True when written (an ObjectCreated event follows), False when unchanged. Any tombstone of
        the document is removed, so a later delete-then-upload is not undone by the old tombstone. With
        ``held_tenant``, only a document of that tenant may be replaced (:class:`DocumentIdTaken`).

        The write is conditional on the version looked at (``If-Match`` its ETag, ``If-None-Match: *`` when
        there was none): a write in between (another replica, another tenant racing for the id) makes it
        look again, so the check and the write cannot be separated by someone else's write.
        """
        key = self.layout.document_key(obj.doc_id)
        chunking = obj.chunking.fingerprint if obj.chunking is not None else ""
        described = metadata_digest(obj.metadata)  # objects written before it was kept: rewritten once
        for _ in range(CONDITIONAL_WRITE_ATTEMPTS):
            head = self._head_full(key)
            current = None if head is None else head.get("Metadata", {})
            if held_tenant is not None and current is not None and current.get("tenant") != held_tenant:
                raise DocumentIdTaken(obj.doc_id)
            stored = None
            if current is not None:
                stored = (
                    current.get("content-hash"),
                    current.get("chunking", ""),
                    current.get("metadata-hash"),
                )
            if stored == (obj.content_hash, chunking, described):
                return False
            condition = {"IfNoneMatch": "*"} if head is None else {"IfMatch": head["ETag"]}
            try:
                self._write(key, obj, chunking, described, condition)
            except ClientError as exc:
                if condition_failed(exc):
                    continue  # written meanwhile: look again
                raise
            with STORE_SECONDS.labels("s3", "delete_object").time():
                self._s3.delete_object(Bucket=self.bucket, Key=self.layout.tombstone_key(obj.doc_id))
            return True
        raise S3Contention(f"document {obj.doc_id!r} kept changing while it was written; send it again")

    def _write(
        self, key: str, obj: ChunkObject, chunking: str, described: str, condition: dict[str, str]
    ) -> None:
        metadata = {
            "content-hash": obj.content_hash,
            "chunks": str(len(obj.chunks)),
            "chunking": chunking,
            "metadata-hash": described,
        }
        tenant = obj.metadata.get(TENANT_KEY)
        if isinstance(tenant, str):  # always in the head, even when the document's metadata is too long
            metadata["tenant"] = tenant
        encoded_meta = json.dumps(obj.metadata, ensure_ascii=True, separators=(",", ":"))
        if len(encoded_meta) <= _METADATA_HEADER_LIMIT:
            metadata["doc-metadata"] = encoded_meta
        with STORE_SECONDS.labels("s3", "put_object").time():
            self._s3.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=obj.to_json_bytes(),
                ContentType="application/json",
                Metadata={**metadata, "source": obj.source.encode("ascii", "backslashreplace").decode()},
                **condition,
            )

    def delete_document(self, doc_id: str, held_tenant: str | None = None) -> bool:
        """Remove the chunk object, then write a tombstone; False when the document is unknown (with
        ``held_tenant``: or another tenant's).

        The order matters: the embedder skips a tombstone whose document object exists (it was uploaded
        again), so the object must be gone before the tombstone's event can be handled. A tenant-held
        delete is conditional on the version looked at (``If-Match`` its ETag): were the id freed and taken
        by another tenant in between, the delete fails, and the next look sees whose document it is now.
        """
        key = self.layout.document_key(doc_id)
        for _ in range(CONDITIONAL_WRITE_ATTEMPTS):
            head = self._head_full(key)
            if head is None:
                return False
            if held_tenant is None:
                condition = {}
            elif head.get("Metadata", {}).get("tenant") != held_tenant:
                return False
            else:
                condition = {"IfMatch": head["ETag"]}
            try:
                with STORE_SECONDS.labels("s3", "delete_object").time():
                    self._s3.delete_object(Bucket=self.bucket, Key=key, **condition)
            except ClientError as exc:
                if condition_failed(exc) or missing(exc):
                    continue  # changed or gone meanwhile: look again
                raise
            break
        else:
            raise S3Contention(f"document {doc_id!r} kept changing while it was deleted; try again")
        tombstone = {"version": 1, "doc_id": doc_id, "deleted_at": datetime.now(UTC).isoformat()}
        with STORE_SECONDS.labels("s3", "put_object").time():
            self._s3.put_object(
                Bucket=self.bucket,
                Key=self.layout.tombstone_key(doc_id),
                Body=json.dumps(tombstone).encode(),
                ContentType="application/json",
            )
        return True

    def read(self, key: str) -> ChunkObject | None:
        """The chunk object at ``key``; None when there is no such object."""
        try:
            with STORE_SECONDS.labels("s3", "get_object").time():
                response = self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if missing(exc):
                return None
            raise
        return replace(
            ChunkObject.from_json_bytes(response["Body"].read()), etag=normal_etag(response["ETag"])
        )

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def etag(self, key: str) -> str | None:
        head = self._head_full(key)
        return None if head is None else normal_etag(head["ETag"])

    def acknowledgement(self, doc_id: str) -> Acknowledgement | None:
        """What the chunking service acknowledged last for ``doc_id``: its chunk object's version, or its
        tombstone (a delete); None when neither exists."""
        head = self._head_full(self.layout.document_key(doc_id))
        if head is not None:
            return Acknowledgement(head["LastModified"], self._record(doc_id, head))
        tombstone = self._head_full(self.layout.tombstone_key(doc_id))
        return None if tombstone is None else Acknowledgement(tombstone["LastModified"])

    def list_acknowledged(self, page_size: int = 1000) -> Iterator[list[ListedObject]]:
        """Every chunk object of the pipeline (id, ETag, last modified, key), a listing page at a time (the
        census streams them: nothing but a page is held)."""
        paginator = self._s3.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket, Prefix=self.layout.documents_prefix, PaginationConfig={"PageSize": page_size}
        )
        for page in pages:
            listed = []
            for item in page.get("Contents", []):
                try:
                    _, doc_id = self.layout.parse_key(item["Key"])
                except MalformedChunkObject:
                    continue  # not ours
                listed.append(
                    ListedObject(doc_id, normal_etag(item["ETag"]), item["LastModified"], item["Key"])
                )
            yield listed

    def list_records(self, limit: int = 100, after: str | None = None) -> list[DocumentRecord]:
        """Documents in key order (base64url of the id), starting after document ``after``."""
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": self.layout.documents_prefix,
            "MaxKeys": limit,
        }
        if after:
            params["StartAfter"] = self.layout.document_key(after)
        with STORE_SECONDS.labels("s3", "list_objects").time():
            listed = self._s3.list_objects_v2(**params)
        records = []
        for item in listed.get("Contents", []):
            try:
                _, doc_id = self.layout.parse_key(item["Key"])
            except MalformedChunkObject:
                continue  # not ours: never fail a listing for a stray object
            head = self._head_full(item["Key"])
            if head is not None:
                records.append(self._record(doc_id, head))
        return records

    def _head(self, key: str) -> dict[str, str] | None:
        head = self._head_full(key)
        return None if head is None else head.get("Metadata", {})

    def _head_full(self, key: str) -> dict[str, Any] | None:
        try:
            with STORE_SECONDS.labels("s3", "head_object").time():
                return self._s3.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if missing(exc):
                return None
            raise

    @staticmethod
    def _record(doc_id: str, head: dict[str, Any]) -> DocumentRecord:
        meta = head.get("Metadata", {})
        try:
            doc_metadata = json.loads(meta.get("doc-metadata", "{}"))
        except ValueError:
            doc_metadata = {}
        if "tenant" in meta:
            doc_metadata[TENANT_KEY] = meta["tenant"]
        return DocumentRecord(
            doc_id=doc_id,
            content_hash=meta.get("content-hash", ""),
            source=meta.get("source", ""),
            chunk_count=int(meta.get("chunks", "0") or 0),
            metadata=doc_metadata,
            updated_at=head["LastModified"],
        )
