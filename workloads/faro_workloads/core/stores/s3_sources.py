"""S3 adapter of a bucket source (boto3): reading a raw document with its metadata and tags, and listing the
source's documents for the full sync."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from faro_workloads.core.census import ListedObject
from faro_workloads.core.document_errors import UnsupportedDocument
from faro_workloads.core.documents import InvalidDocumentId
from faro_workloads.core.metrics import STORE_SECONDS
from faro_workloads.core.source_documents import SourceLayout, document_metadata
from faro_workloads.core.stores.s3_chunks import missing, normal_etag


class DocumentTooLarge(UnsupportedDocument):
    """A source object bigger than the pipeline takes (``ingest.max_body_bytes``)."""


@dataclass(frozen=True, slots=True)
class SourceObject:
    key: str
    data: bytes
    etag: str
    content_type: str | None
    metadata: dict[str, str]


class S3SourceDocuments:
    """One pipeline's raw documents in S3."""

    def __init__(self, client: Any, layout: SourceLayout, max_bytes: int) -> None:
        self._s3 = client
        self.layout = layout
        self._max_bytes = max_bytes

    def read(self, key: str) -> SourceObject | None:
        """The object at ``key`` with its metadata and tags; None when it does not exist (any more).
        Raises :class:`DocumentTooLarge` for an object over the size limit (its length is in the answer's
        headers: the body is not read)."""
        bucket = self.layout.bucket
        try:
            with STORE_SECONDS.labels("s3", "get_object").time():
                response = self._s3.get_object(Bucket=bucket, Key=key)
                if response["ContentLength"] > self._max_bytes:
                    response["Body"].close()
                    raise DocumentTooLarge(
                        f"s3://{bucket}/{key} is {response['ContentLength']} bytes, more than the "
                        f"{self._max_bytes} a document may have"
                    )
                data = response["Body"].read(self._max_bytes + 1)
            with STORE_SECONDS.labels("s3", "get_object_tagging").time():
                tags = self._s3.get_object_tagging(Bucket=bucket, Key=key).get("TagSet", [])
        except ClientError as exc:
            if missing(exc):
                return None
            raise
        if len(data) > self._max_bytes:
            raise DocumentTooLarge(f"s3://{bucket}/{key} is more than {self._max_bytes} bytes")
        return SourceObject(
            key=key,
            data=data,
            etag=normal_etag(response["ETag"]),
            content_type=response.get("ContentType"),
            metadata=document_metadata(
                response.get("Metadata") or {}, ((tag["Key"], tag["Value"]) for tag in tags)
            ),
        )

    def exists(self, key: str) -> bool:
        return self.etag(key) is not None

    def etag(self, key: str) -> str | None:
        """The ETag of the object at ``key`` now (unquoted); None when there is none."""
        try:
            with STORE_SECONDS.labels("s3", "head_object").time():
                head = self._s3.head_object(Bucket=self.layout.bucket, Key=key)
        except ClientError as exc:
            if missing(exc):
                return None
            raise
        return normal_etag(head["ETag"])

    def list_documents(self, page_size: int = 1000) -> Iterator[list[ListedObject]]:
        """The source's documents (id, key, ETag, last modified), a listing page at a time."""
        paginator = self._s3.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.layout.bucket,
            Prefix=self.layout.key_prefix,
            PaginationConfig={"PageSize": page_size},
        )
        for page in pages:
            listed = []
            for item in page.get("Contents", []):
                try:
                    doc_id = self.layout.doc_id(item["Key"])
                except InvalidDocumentId:
                    continue  # no id can be made of it; the event path reports it when it is uploaded
                if doc_id is not None:
                    listed.append(
                        ListedObject(doc_id, normal_etag(item["ETag"]), item["LastModified"], item["Key"])
                    )
            yield listed
