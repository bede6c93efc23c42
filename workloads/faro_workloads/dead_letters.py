"""The dead-letter queue of a pipeline: what the embedding engine gave up on, why, and sending it back.

The engine moves a message there after ``max_receives`` permanent failures, with three message attributes
(:data:`ERROR`, :data:`RECEIVES`, :data:`SOURCE_MESSAGE_ID`); SQS's own redrive policy, a backstop, moves
messages without them. :class:`DeadLetterQueue` reads the queue without consuming it (each message is
received with a short visibility timeout, then made visible again) and redrives chosen messages: the body
is sent to the main queue, then the dead letter deleted — a crash between the two leaves a copy in both,
which the engine's unchanged-skip makes harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from faro_workloads.core.chunk_objects import ChunkObjectLayout, MalformedChunkObject
from faro_workloads.s3_events import MalformedEvent, parse_s3_notification

ERROR = "faro-error"
RECEIVES = "faro-receives"
SOURCE_MESSAGE_ID = "faro-source-message-id"
PEEK_SECONDS = 30
"""How long a listed or skipped message stays invisible before it is made visible again (if that fails)."""
MAX_MESSAGES = 10_000


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """One message of the dead-letter queue, as people read it."""

    message_id: str
    document: str | None
    """The document id its S3 event names, or None when the body is no event of this pipeline."""
    error: str
    receives: int | None
    sent_at: datetime | None
    """When it was dead-lettered."""

    def age_seconds(self, now: datetime) -> float | None:
        return (now - self.sent_at).total_seconds() if self.sent_at else None


@dataclass(frozen=True, slots=True)
class Redrive:
    moved: list[str]
    """Message ids sent back to the main queue."""
    left: int
    """Dead letters not chosen."""


class DeadLetterQueue:
    """The dead-letter queue ``dlq_url`` of the main queue ``queue_url`` (``sqs``: a boto3 SQS client);
    ``layout`` turns a chunk object's key back into its document id."""

    def __init__(
        self, sqs: Any, queue_url: str, dlq_url: str, layout: ChunkObjectLayout | None = None
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._dlq_url = dlq_url
        self._layout = layout

    def list(self, limit: int = 1000) -> list[DeadLetter]:
        """Up to ``limit`` dead letters, oldest first; none is consumed."""
        received = self._receive_all(limit)
        self._make_visible(received.values())
        letters = [self._letter(message) for message in received.values()]
        return sorted(letters, key=lambda letter: letter.sent_at or datetime.max.replace(tzinfo=UTC))

    def redrive(self, chosen: Callable[[DeadLetter], bool], limit: int = MAX_MESSAGES) -> Redrive:
        """Send the dead letters ``chosen`` accepts back to the main queue; the others stay."""
        received = self._receive_all(limit)
        moved: list[str] = []
        for message_id, message in list(received.items()):
            if chosen(self._letter(message)):
                self._sqs.send_message(QueueUrl=self._queue_url, MessageBody=message["Body"])
                self._sqs.delete_message(QueueUrl=self._dlq_url, ReceiptHandle=message["ReceiptHandle"])
                moved.append(message_id)
                del received[message_id]
        self._make_visible(received.values())
        return Redrive(moved, len(received))

    def _receive_all(self, limit: int) -> dict[str, dict[str, Any]]:
        """Every message the queue gives (at most ``limit``), by id with its latest receipt, each kept
        invisible for :data:`PEEK_SECONDS` until the caller is done with it."""
        received: dict[str, dict[str, Any]] = {}
        empty = 0
        while len(received) < limit and empty < 2:  # short polls may come back empty with messages left
            messages = self._sqs.receive_message(
                QueueUrl=self._dlq_url,
                MaxNumberOfMessages=min(10, limit - len(received)),
                VisibilityTimeout=PEEK_SECONDS,
                WaitTimeSeconds=1,
                AttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            fresh = [m for m in messages if m["MessageId"] not in received]
            empty = 0 if fresh else empty + 1
            received.update((m["MessageId"], m) for m in messages)
        return received

    def _make_visible(self, messages: Collection[dict[str, Any]]) -> None:
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(messages)
        ]
        for start in range(0, len(entries), 10):
            self._sqs.change_message_visibility_batch(
                QueueUrl=self._dlq_url, Entries=entries[start : start + 10]
            )

    def _letter(self, message: dict[str, Any]) -> DeadLetter:
        attributes = message.get("MessageAttributes") or {}
        error = (attributes.get(ERROR) or {}).get("StringValue")
        receives = (attributes.get(RECEIVES) or {}).get("StringValue")
        sent = (message.get("Attributes") or {}).get("SentTimestamp")
        return DeadLetter(
            message_id=message["MessageId"],
            document=self._document(message.get("Body", "")),
            error=error or "moved by the queue's redrive policy (no reason recorded)",
            receives=int(receives) if receives and receives.isdigit() else None,
            sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent and sent.isdigit() else None,
        )

    def _document(self, body: str) -> str | None:
        try:
            events = parse_s3_notification(body)
        except MalformedEvent:  # not an S3 event: no document to name
            return None
        for event in events or []:
            if self._layout is None:
                return event.key
            try:
                return self._layout.parse_key(event.key)[1]
            except MalformedChunkObject:
                return event.key
        return None
