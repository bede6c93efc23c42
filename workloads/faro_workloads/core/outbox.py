"""Applying the PostgreSQL outbox to Qdrant: step (2) of the transactional outbox.

Each drain step claims a batch of outbox rows in one Postgres transaction, pushes the *current* state of the
points they name to Qdrant (upsert what Postgres holds, delete what it no longer holds), then deletes exactly
the claimed rows and commits. A Qdrant failure rolls the transaction back, so the rows stay for a retry.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Collection, Mapping

from tenacity import RetryCallState, Retrying, wait_exponential

from faro_workloads.core.documents import Chunk
from faro_workloads.core.metrics import OUTBOX_APPLIED, OUTBOX_FAILURES, OUTBOX_PENDING
from faro_workloads.core.stores.ports import OutboxClaims, PointSink
from faro_workloads.errors import DependencyUnavailable

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0


class OutboxApplyError(DependencyUnavailable):
    """Qdrant rejected or did not answer an outbox batch; the batch's rows are still pending."""

    dependency = "Qdrant"


class OutboxDrainer:
    """Moves pending outbox rows of one collection from PostgreSQL into Qdrant."""

    def __init__(self, pg: OutboxClaims, qdrant: PointSink, batch_size: int = 256) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._pg = pg
        self._qdrant = qdrant
        self._batch_size = batch_size

    def drain(
        self,
        max_rows: int | None = None,
        point_ids: Collection[uuid.UUID] | None = None,
        known: Mapping[uuid.UUID, Chunk] | None = None,
    ) -> int:
        """Apply pending rows until none are left (or ``max_rows`` were applied); return the rows applied.

        ``point_ids`` restricts the drain to rows naming those points (the dual writer syncs its own write
        this way and leaves any backlog to the background loop). ``known``: chunks the caller just wrote,
        pushed as they are when PostgreSQL still holds them (their vectors are not read back). Raises
        :class:`OutboxApplyError` when Qdrant fails, after leaving the failed batch's rows in place; Postgres
        errors propagate as they are.
        """
        applied = 0
        wanted = list(point_ids) if point_ids is not None else None
        try:
            while max_rows is None or applied < max_rows:
                limit = self._batch_size if max_rows is None else min(self._batch_size, max_rows - applied)
                claimed = self._apply_batch(limit, wanted, known)
                applied += claimed
                if claimed < limit:
                    break
        finally:
            self._refresh_pending_gauge()
        return applied

    def _apply_batch(
        self, limit: int, point_ids: list[uuid.UUID] | None, known: Mapping[uuid.UUID, Chunk] | None
    ) -> int:
        with self._pg.claim_outbox(limit, point_ids, known) as batch:
            if not batch.row_ids:
                return 0
            try:
                if batch.chunks:
                    self._qdrant.upsert(batch.chunks)
                if batch.absent_ids:
                    self._qdrant.delete(batch.absent_ids)
            except Exception as exc:
                OUTBOX_FAILURES.inc()
                raise OutboxApplyError(
                    f"applying {len(batch.row_ids)} outbox rows to qdrant failed: {exc}"
                ) from exc
        OUTBOX_APPLIED.inc(len(batch.row_ids))
        log.debug(
            "outbox: applied %d rows (%d upserted, %d deleted)",
            len(batch.row_ids),
            len(batch.chunks),
            len(batch.absent_ids),
        )
        return len(batch.row_ids)

    def _refresh_pending_gauge(self) -> None:
        try:
            OUTBOX_PENDING.set(self._pg.outbox_pending())
        except Exception as exc:  # the gauge is best effort; never mask the drain's own outcome
            log.debug("could not count pending outbox rows: %s", exc)

    def run(self, stop: threading.Event, interval: float = 1.0) -> None:
        """Drain every ``interval`` seconds until ``stop`` is set (:func:`drain_loop`)."""
        drain_loop(self.drain, stop, interval)


def drain_loop(drain: Callable[[], int], stop: threading.Event, interval: float = 1.0) -> None:
    """Call ``drain`` every ``interval`` seconds until ``stop`` is set; never dies on an exception.

    After a failure the next attempt waits an exponentially growing delay (tenacity's ``wait_exponential``,
    from ``interval`` up to 30 s); a successful drain resets it.
    """
    backoff = wait_exponential(multiplier=interval, min=interval, max=max(interval, MAX_BACKOFF_SECONDS))
    state = RetryCallState(Retrying(), None, (), {})
    failures = 0
    while not stop.is_set():
        try:
            applied = drain()
            if applied:
                log.info("outbox: applied %d pending rows to qdrant", applied)
            failures = 0
            delay = interval
        except Exception as exc:
            failures += 1
            state.attempt_number = failures
            delay = backoff(state)
            log.warning("outbox drain failed (attempt %d), retrying in %.1fs: %s", failures, delay, exc)
        stop.wait(delay)
