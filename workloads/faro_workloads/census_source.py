"""Where the consistency job's censuses read what was acknowledged (the pipeline's chunk objects in S3, and
the documents of its bucket source) and how they send documents back to the embedding engine (S3-style
notifications on the event queue)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from faro_workloads.core.census import CHUNK_OBJECTS, CensusScope, ListedObject
from faro_workloads.core.stores.s3_chunks import S3ChunkStore
from faro_workloads.core.stores.s3_sources import S3SourceDocuments
from faro_workloads.errors import DependencyUnavailable
from faro_workloads.s3_events import object_created_notification

SQS_BATCH = 10  # SendMessageBatch's limit


class RequeueFailed(DependencyUnavailable):
    """SQS refused some of the notifications the census sent."""

    dependency = "SQS"


class NotificationRequeue:
    """Sends one S3 ObjectCreated notification per object (of ``bucket``) to the pipeline's event queue."""

    def __init__(self, sqs: Any, queue_url: str, bucket: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._bucket = bucket

    def __call__(self, keys: list[str]) -> int:
        for start in range(0, len(keys), SQS_BATCH):
            batch = keys[start : start + SQS_BATCH]
            entries = [
                {"Id": str(index), "MessageBody": object_created_notification(self._bucket, [key])}
                for index, key in enumerate(batch)
            ]
            answer = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            if failed := answer.get("Failed"):
                first = failed[0]
                raise RequeueFailed(
                    f"{len(failed)} of {len(entries)} notifications refused: {first.get('Code')} "
                    f"{first.get('Message', '')}".strip()
                )
        return len(keys)


class Listing(Protocol):
    def __call__(self) -> Iterator[list[ListedObject]]: ...


@dataclass(frozen=True)
class CensusSource:
    """What one census counts (``scope``), the listing of it, and, when it may send work, the way back in."""

    scope: CensusScope
    listing: Listing
    requeue: NotificationRequeue | None

    @classmethod
    def chunk_objects(cls, store: S3ChunkStore, requeue: NotificationRequeue | None) -> CensusSource:
        return cls(CHUNK_OBJECTS, store.list_acknowledged, requeue)

    @classmethod
    def bucket_source(cls, documents: S3SourceDocuments, requeue: NotificationRequeue | None) -> CensusSource:
        return cls(CensusScope("source", documents.layout.source_prefix), documents.list_documents, requeue)
