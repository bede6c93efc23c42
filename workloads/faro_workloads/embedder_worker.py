"""The embedding engine's SQS consumer: S3 ObjectCreated events -> chunk objects -> embeddings -> both stores.

Guarantees:
- A message is deleted only after the document's PostgreSQL transaction committed (chunks + outbox), so a
  crash or a PostgreSQL outage never loses a document: SQS redelivers it, and deterministic point ids make
  the replay an idempotent upsert.
- Poison messages (not an S3 event, a foreign key, a missing or malformed chunk object, an undocumentable
  text) are retried with backoff and moved to the dead-letter queue on their ``max_receives``-th receive,
  with a log line and ``faro_sqs_messages_total{result="dead_lettered"}``; the documents it named are
  marked failed in PostgreSQL with the reason, which ``GET /v1/documents/{id}`` reports.
- Transient failures (PostgreSQL, the embedding gateway, S3) never dead-letter: the message becomes
  visible again after a backoff and the worker pauses receiving for a while.
- Any number of replicas may consume one queue: an event only names a key, its current state in S3 is what
  gets stored, and a version overtaken while it was written is followed by the newer one
  (:mod:`faro_workloads.chunk_events`).
- Visibility is extended while a big document is in flight; on stop, in-flight messages finish (or are
  released for redelivery when the grace period runs out) and nothing new is received.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from typing import Any, Literal

from faro_workloads.chunk_events import ChunkEvents
from faro_workloads.contract.settings import SQSConfig
from faro_workloads.core.embedding import EmbeddingDimensionError
from faro_workloads.core.ingest import IngestService
from faro_workloads.core.metrics import (
    EMBEDDER_INFLIGHT,
    INGEST_LAG,
    SQS_MESSAGES,
    SQS_QUEUE_MESSAGES,
    SQS_RESULTS,
    VISIBILITY_EXTENSIONS,
    expose_label_values,
)
from faro_workloads.core.stores.ports import ChunkObjectReader, FailureLog
from faro_workloads.dead_letters import ERROR, RECEIVES, SOURCE_MESSAGE_ID
from faro_workloads.errors import InputError
from faro_workloads.s3_events import S3ObjectEvent, parse_s3_notification
from faro_workloads.source_ingest import SourceIngest

log = logging.getLogger(__name__)

Outcome = Literal["processed", "skipped", "test_event"]  # the label of a handled message
MAX_PAUSE_SECONDS = 30.0
QUEUE_DEPTH_INTERVAL_SECONDS = 15.0


class EmbedderWorker:
    """Consumes one pipeline's event queue until :meth:`stop`."""

    def __init__(
        self,
        sqs: Any,
        store: ChunkObjectReader,
        ingest: IngestService,
        config: SQSConfig,
        failures: FailureLog | None = None,
        sources: SourceIngest | None = None,
    ) -> None:
        self._sqs = sqs
        self._failures = failures
        self._sources = sources
        self._store = store
        self._chunk_events = ChunkEvents(store, ingest)
        self._config = config
        self._stop = threading.Event()
        self._slots = threading.BoundedSemaphore(config.concurrency)
        self._pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="embed")
        self._inflight: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._pause_until = 0.0
        self._transient_failures = 0
        self._next_depth_check = 0.0
        expose_label_values(SQS_MESSAGES, SQS_RESULTS)

    # ------------------------------------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        """Stop receiving; :meth:`run` returns once in-flight messages are finished or released."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, shutdown_grace_seconds: float = 20.0) -> None:
        log.info("embedder: consuming %s (concurrency %d)", self._config.queue_url, self._config.concurrency)
        while not self._stop.is_set():
            try:
                self._receive_once()
            except Exception as exc:  # SQS itself failing: back off, never die
                log.warning("embedder: receiving from SQS failed: %s", exc)
                self._pause_receiving()
                self._stop.wait(min(MAX_PAUSE_SECONDS, max(0.0, self._pause_until - time.monotonic())))
        self._drain_inflight(shutdown_grace_seconds)
        self._pool.shutdown(wait=False, cancel_futures=True)
        log.info("embedder: stopped")

    def _receive_once(self) -> None:
        if (wait := self._pause_until - time.monotonic()) > 0:
            self._stop.wait(min(wait, 1.0))
            return
        self._refresh_queue_depth()
        if not self._slots.acquire(timeout=1.0):
            return
        taken = 1
        while taken < self._config.max_messages and self._slots.acquire(blocking=False):
            taken += 1
        try:
            messages = self._sqs.receive_message(
                QueueUrl=self._config.queue_url,
                MaxNumberOfMessages=taken,
                WaitTimeSeconds=self._config.wait_seconds,
                VisibilityTimeout=self._config.visibility_timeout_seconds,
                AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        except BaseException:
            for _ in range(taken):
                self._slots.release()
            raise
        INGEST_LAG.set(_oldest_age_seconds(messages))
        for _ in range(taken - len(messages)):
            self._slots.release()
        for message in messages:
            if self._stop.is_set():  # received while stopping: give it straight back
                self._release(message["ReceiptHandle"])
                self._slots.release()
                continue
            future = self._pool.submit(self._handle, message)
            with self._lock:
                self._inflight[message["ReceiptHandle"]] = future
            future.add_done_callback(lambda _f, receipt=message["ReceiptHandle"]: self._done(receipt))

    def _done(self, receipt: str) -> None:
        with self._lock:
            self._inflight.pop(receipt, None)
        self._slots.release()

    def _drain_inflight(self, grace_seconds: float) -> None:
        with self._lock:
            pending = dict(self._inflight)
        if not pending:
            return
        log.info("embedder: finishing %d in-flight messages", len(pending))
        _, not_done = wait_futures(pending.values(), timeout=grace_seconds)
        for receipt, future in pending.items():
            if future in not_done:
                self._release(receipt)
                SQS_MESSAGES.labels("released").inc()

    # -------------------------------------------------------------------------------------- one message

    def _handle(self, message: dict[str, Any]) -> None:
        receipt = message["ReceiptHandle"]
        receives = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        EMBEDDER_INFLIGHT.inc()
        try:
            with self._visibility_heartbeat(receipt):
                outcome = self._process(message["Body"])
        except (InputError, EmbeddingDimensionError) as exc:  # permanent: no retry can succeed
            self._on_poison(message, receives, str(exc))
            return
        except Exception as exc:
            SQS_MESSAGES.labels("transient_error").inc()
            log.warning(
                "embedder: message %s failed (receive %d), will retry: %s",
                message["MessageId"],
                receives,
                exc,
            )
            self._set_visibility(receipt, self._backoff_seconds(receives))
            self._pause_receiving()
            return
        finally:
            EMBEDDER_INFLIGHT.dec()
        try:
            self._sqs.delete_message(QueueUrl=self._config.queue_url, ReceiptHandle=receipt)
        except Exception as exc:  # redelivered later, and then skipped as unchanged
            log.warning("embedder: could not delete message %s: %s", message["MessageId"], exc)
        self._transient_failures = 0
        SQS_MESSAGES.labels(outcome).inc()

    def _process(self, body: str) -> Outcome:
        events = parse_s3_notification(body)
        if events is None:
            return "test_event"
        outcomes = [self._process_event(event) for event in events]
        return "processed" if "processed" in outcomes else "skipped"

    def _process_event(self, event: S3ObjectEvent) -> Outcome:
        if self._sources is not None and self._sources.owns(event):
            doc_id = self._sources.doc_id(event)
            return "skipped" if doc_id is None else self._sources.handle(event, doc_id)  # None: left out
        return self._chunk_events.handle(event)

    def _on_poison(self, message: dict[str, Any], receives: int, reason: str) -> None:
        receipt = message["ReceiptHandle"]
        if receives < self._config.max_receives or not self._config.dead_letter_queue_url:
            SQS_MESSAGES.labels("poison_retry").inc()
            log.warning(
                "embedder: poison message %s (receive %d of %d): %s",
                message["MessageId"],
                receives,
                self._config.max_receives,
                reason,
            )
            self._set_visibility(receipt, self._backoff_seconds(receives))
            return
        self._sqs.send_message(
            QueueUrl=self._config.dead_letter_queue_url,
            MessageBody=message["Body"],
            MessageAttributes={
                ERROR: {"DataType": "String", "StringValue": reason[:1000]},
                SOURCE_MESSAGE_ID: {"DataType": "String", "StringValue": message["MessageId"]},
                RECEIVES: {"DataType": "Number", "StringValue": str(receives)},
            },
        )
        self._sqs.delete_message(QueueUrl=self._config.queue_url, ReceiptHandle=receipt)
        SQS_MESSAGES.labels("dead_lettered").inc()
        log.error(
            "embedder: message %s moved to the dead-letter queue after %d receives: %s",
            message["MessageId"],
            receives,
            reason,
        )
        self._mark_failed(message["Body"], f"dead-lettered after {receives} receives: {reason}")

    def _mark_failed(self, body: str, reason: str) -> None:
        """Mark the documents a dead-lettered message named as failed (best effort: the message itself is
        safe in the dead-letter queue whatever happens here)."""
        if self._failures is None:
            return
        for doc_id in _documents_named(body, self._store, self._sources):
            try:
                self._failures.mark_failed(doc_id, "", reason)
            except Exception as exc:
                log.warning("embedder: could not mark %s failed: %s", doc_id, exc)

    # ------------------------------------------------------------------------------------------ helpers

    @contextlib.contextmanager
    def _visibility_heartbeat(self, receipt: str) -> Iterator[None]:
        """Keep extending the message's visibility while it is being processed."""
        done = threading.Event()
        interval = max(1.0, self._config.visibility_timeout_seconds / 2)

        def extend() -> None:
            while not done.wait(interval):
                try:
                    self._set_visibility(receipt, self._config.visibility_timeout_seconds)
                    VISIBILITY_EXTENSIONS.inc()
                except Exception as exc:
                    log.warning("embedder: could not extend visibility: %s", exc)

        thread = threading.Thread(target=extend, name="visibility", daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join(timeout=5)

    def _set_visibility(self, receipt: str, seconds: int) -> None:
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self._config.queue_url, ReceiptHandle=receipt, VisibilityTimeout=seconds
            )
        except Exception as exc:  # the message then reappears after its current timeout
            log.warning("embedder: could not change visibility: %s", exc)

    def _release(self, receipt: str) -> None:
        self._set_visibility(receipt, 0)

    def _backoff_seconds(self, receives: int) -> int:
        return int(min(self._config.visibility_timeout_seconds, 2 ** max(0, receives - 1)))

    def _pause_receiving(self) -> None:
        """After a transient failure, stop receiving for a growing while (a dependency is down).

        Failures of messages received together count once: the pause grows per failed round, not per message.
        """
        if time.monotonic() < self._pause_until:
            return
        self._transient_failures += 1
        pause = min(MAX_PAUSE_SECONDS, 0.5 * 2 ** min(self._transient_failures, 8))
        self._pause_until = max(self._pause_until, time.monotonic() + pause)

    def _refresh_queue_depth(self) -> None:
        now = time.monotonic()
        if now < self._next_depth_check:
            return
        self._next_depth_check = now + QUEUE_DEPTH_INTERVAL_SECONDS
        for label, url in (
            ("main", self._config.queue_url),
            ("dead_letter", self._config.dead_letter_queue_url),
        ):
            if not url:
                continue
            try:
                attributes = self._sqs.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
                )["Attributes"]
                SQS_QUEUE_MESSAGES.labels(label).set(int(attributes["ApproximateNumberOfMessages"]))
            except Exception as exc:
                log.debug("embedder: queue depth of %s unavailable: %s", label, exc)


def _documents_named(body: str, store: ChunkObjectReader, sources: SourceIngest | None) -> list[str]:
    """The ids of the documents whose chunk objects (keys of ``store``'s layout, in whatever bucket: an
    event from the wrong bucket is a misconfiguration worth reporting on the document) or source objects
    ``body`` names."""
    try:
        events = parse_s3_notification(body) or []
    except InputError:
        return []
    named = []
    for event in events:
        if not event.created:
            continue
        try:
            if sources is not None and (source_id := sources.doc_id(event)) is not None:
                named.append(source_id)
                continue
            kind, doc_id = store.layout.parse_key(event.key)
        except InputError:
            continue
        if kind == "document":
            named.append(doc_id)
    return named


def _oldest_age_seconds(messages: list[dict[str, Any]]) -> float:
    """Seconds since the oldest of ``messages`` was sent (0 for none): the ingest lag they show."""
    sent = [
        int(m["Attributes"]["SentTimestamp"])
        for m in messages
        if str(m.get("Attributes", {}).get("SentTimestamp", "")).isdigit()
    ]
    return max(0.0, time.time() - min(sent) / 1000) if sent else 0.0
