"""Where the consistency job's census reads what was acknowledged (the pipeline's chunk objects in S3) and
how its repair sends documents back to the embedding engine (S3-style notifications on the event queue)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from faro_workloads.core.census import ListedObject
from faro_workloads.core.chunk_objects import ChunkObjectLayout
from faro_workloads.core.stores.s3_chunks import S3ChunkStore
from faro_workloads.errors import DependencyUnavailable
from faro_workloads.s3_events import object_created_notification

SQS_BATCH = 10  # SendMessageBatch's limit


class RequeueFailed(DependencyUnavailable):
    """SQS refused some of the notifications the census sent."""

    dependency = "SQS"


class NotificationRequeue:
    """Sends one S3 ObjectCreated notification per document's chunk object to the pipeline's event queue."""

    def __init__(self, sqs: Any, queue_url: str, bucket: str, layout: ChunkObjectLayout) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._bucket = bucket
        self._layout = layout

    def __call__(self, doc_ids: list[str]) -> int:
        for start in range(0, len(doc_ids), SQS_BATCH):
            batch = doc_ids[start : start + SQS_BATCH]
            entries = [
                {
                    "Id": str(index),
                    "MessageBody": object_created_notification(
                        self._bucket, [self._layout.document_key(doc_id)]
                    ),
                }
                for index, doc_id in enumerate(batch)
            ]
            answer = self._sqs.send_message_batch(QueueUrl=self._queue_url, Entries=entries)
            if failed := answer.get("Failed"):
                first = failed[0]
                raise RequeueFailed(
                    f"{len(failed)} of {len(entries)} notifications refused: {first.get('Code')} "
                    f"{first.get('Message', '')}".strip()
                )
        return len(doc_ids)


@dataclass(frozen=True)
class CensusSource:
    """The acknowledged documents of one pipeline and, when repair may send work, the way back in."""

    store: S3ChunkStore
    requeue: NotificationRequeue | None

    def listing(self) -> Iterator[list[ListedObject]]:
        return self.store.list_acknowledged()
