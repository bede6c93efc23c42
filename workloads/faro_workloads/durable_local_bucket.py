"""The chunk-object bucket of ``faro local --s3``, made durable by a write-through copy in the data dir.

moto (the local S3 + SQS server) keeps buckets and queues in memory only; it has no state store, just a
request recorder that appends every request (SQS polls included) without fsync, which is no store to restart
from. So a crash of ``faro local --s3`` lost every chunk object and every queued notification.

The design: every object written to or deleted from the local bucket is first written durably into a
folder (temporary file, fsync, rename, fsync of the folder) and then sent to moto; the documents API answers
202 only after both, so what it acknowledged is on disk. A tombstone is an object too, so an acknowledged
delete is on disk as well. On start the fresh moto bucket is refilled from the folder *after* its
ObjectCreated notification is configured: every object's event reaches the embedding worker again, which
skips documents PostgreSQL already holds with the same content hash, embeds the ones lost in flight, and
applies the tombstones (deletes) again. Writes to the real S3 of a cluster never go through here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from faro_workloads.core.stores.s3_chunks import missing, normal_etag

log = logging.getLogger(__name__)

OBJECT_SUFFIX = ".object"
PARTIAL_SUFFIX = ".partial"
_LOCK_STRIPES = 64
# Bucket writes that would bypass the durable copy: refused on the mirrored bucket.
_UNMIRRORED_WRITES = frozenset(
    {"copy_object", "delete_objects", "upload_file", "upload_fileobj", "create_multipart_upload"}
)


class CorruptStoredObject(ValueError):
    """A file of the durable bucket folder that is not a stored object."""


@dataclass(frozen=True)
class StoredObject:
    key: str
    body: bytes
    content_type: str | None
    metadata: dict[str, str]


class DurableBucket:
    """A folder holding one file per object: a JSON header line (key, content type, metadata), then the body.

    File names are the SHA-256 of the key, so any key fits in a file name.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        for partial in folder.glob(f"*{PARTIAL_SUFFIX}"):  # a write cut short by a crash: never acknowledged
            partial.unlink(missing_ok=True)

    def put(self, key: str, body: bytes, content_type: str | None, metadata: dict[str, str]) -> None:
        """Store the object durably (replacing any previous version) before returning."""
        header = json.dumps(
            {"key": key, "content_type": content_type, "metadata": metadata}, ensure_ascii=True
        )
        path = self._path(key)
        partial = path.with_name(f"{path.name}.{uuid.uuid4().hex}{PARTIAL_SUFFIX}")
        try:
            with partial.open("wb") as out:
                out.write(header.encode("ascii") + b"\n" + body)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        self._sync_folder()

    def delete(self, key: str) -> None:
        """Remove the object durably (nothing to do when there is none) before returning."""
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return
        self._sync_folder()

    def objects(self) -> Iterator[StoredObject]:
        """Every stored object, read one at a time (in file-name order)."""
        for path in sorted(self.folder.glob(f"*{OBJECT_SUFFIX}")):
            yield self._read(path)

    def restore_into(self, s3: Any, bucket: str) -> int:
        """Put every stored object into ``bucket`` of a fresh local S3 server; returns how many.

        Call it after the bucket's notification is configured: each put sends its ObjectCreated event again.
        """
        count = 0
        for item in self.objects():
            extra = {"ContentType": item.content_type} if item.content_type else {}
            s3.put_object(Bucket=bucket, Key=item.key, Body=item.body, Metadata=item.metadata, **extra)
            count += 1
        return count

    def _path(self, key: str) -> Path:
        return self.folder / f"{hashlib.sha256(key.encode('utf-8')).hexdigest()}{OBJECT_SUFFIX}"

    @staticmethod
    def _read(path: Path) -> StoredObject:
        header, newline, body = path.read_bytes().partition(b"\n")
        try:
            if not newline:
                raise ValueError("no header line")
            fields = json.loads(header)
            return StoredObject(
                key=str(fields["key"]),
                body=body,
                content_type=fields.get("content_type"),
                metadata={str(k): str(v) for k, v in fields.get("metadata", {}).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CorruptStoredObject(
                f"{path} is not a stored object ({exc}); move it out of the folder to start without it"
            ) from exc

    def _sync_folder(self) -> None:
        """fsync the folder, so a rename or unlink in it survives a power cut too."""
        descriptor = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


class WriteThroughS3Client:
    """A boto3 S3 client whose object writes and deletes in one bucket go to a :class:`DurableBucket` first.

    Everything else (reads, listings, other buckets) goes straight to the wrapped client. Writes of one key
    are serialised, so the folder and the server see a key's versions in the same order.
    """

    def __init__(self, client: Any, bucket: str, durable: DurableBucket) -> None:
        self._client = client
        self._bucket = bucket
        self._durable = durable
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]

    def put_object(self, **kwargs: Any) -> Any:
        if kwargs.get("Bucket") != self._bucket:
            return self._client.put_object(**kwargs)
        body = _as_bytes(kwargs.get("Body", b""))
        key = kwargs["Key"]
        with self._lock(key):
            self._check_condition(key, kwargs.get("IfMatch"), kwargs.get("IfNoneMatch"))
            self._durable.put(key, body, kwargs.get("ContentType"), dict(kwargs.get("Metadata", {})))
            return self._client.put_object(**{**kwargs, "Body": body})

    def _check_condition(self, key: str, if_match: str | None, if_none_match: str | None) -> None:
        """A conditional write's condition, checked before the durable copy is written (writes of a key are
        serialised here, so the server's version is the folder's): refused as S3 refuses it (412)."""
        if if_match is None and if_none_match is None:
            return
        try:
            etag: str | None = normal_etag(self._client.head_object(Bucket=self._bucket, Key=key)["ETag"])
        except ClientError as exc:
            if not missing(exc):
                raise
            etag = None
        failed = (if_none_match == "*" and etag is not None) or (
            if_match is not None and etag != normal_etag(if_match)
        )
        if failed:
            error = {"Error": {"Code": "PreconditionFailed", "Message": "the object changed"}}
            raise ClientError(error, "PutObject")  # type: ignore[arg-type]

    def delete_object(self, **kwargs: Any) -> Any:
        if kwargs.get("Bucket") != self._bucket:
            return self._client.delete_object(**kwargs)
        key = kwargs["Key"]
        with self._lock(key):
            self._durable.delete(key)
            return self._client.delete_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in _UNMIRRORED_WRITES:
            return attribute

        def guarded(*args: Any, **kwargs: Any) -> Any:
            if kwargs.get("Bucket") == self._bucket:
                raise NotImplementedError(
                    f"{name} on the durable local bucket would not be kept across a crash"
                )
            return attribute(*args, **kwargs)

        return guarded

    def _lock(self, key: str) -> threading.Lock:
        digest = hashlib.blake2b(key.encode("utf-8"), digest_size=4).digest()
        return self._locks[int.from_bytes(digest, "big") % _LOCK_STRIPES]


def _as_bytes(body: Any) -> bytes:
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):  # a file-like object
        return _as_bytes(body.read())
    raise TypeError(f"cannot store a body of type {type(body).__name__}")
