"""A three-stage pipeline: batches made on the caller's thread, committed on committer threads, synced on
another thread, so that the three overlap; results come out in the batches' order.

Used by :meth:`IngestService.ingest_many`: chunking and embedding (CPU, caller's thread), PostgreSQL
transactions (mostly the server's work, two at once) and the Qdrant sync run at the same time on different
batches.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

B = TypeVar("B")  # a batch
C = TypeVar("C")  # what committing a batch gives its sync
R = TypeVar("R")  # one result


class CommitSkipped(RuntimeError):
    """A batch was not committed because a batch before it failed to commit."""


def pipelined(
    batches: Iterable[B],
    commit: Callable[[B], C],
    sync: Callable[[B, C], list[R]],
    queued_commits: int = 2,
    committers: int = 1,
) -> Iterator[R]:
    """Each batch's results (``sync(batch, commit(batch))``), batch after batch, in the batches' order.

    Batches are committed on ``committers`` threads, started in their order (with one committer, one at a
    time and in order; with more, that many at once, so they may finish in any order); each commit's sync
    runs on one syncer thread while later batches commit. Up to ``queued_commits`` batches wait for (or are
    in) the committers while the caller's thread makes the next one (iterating ``batches``).

    - A commit that raises stops the pipeline: the batches not yet started are not committed (with several
      committers, those already under way may still finish), the results of the batches before it are
      yielded, then its exception is raised.
    - When ``batches`` raises, the batches it gave before are still committed and synced before the
      exception leaves this generator (their results are not yielded); likewise when the consumer stops.
    """
    if queued_commits < 1 or committers < 1:
        raise ValueError("queued_commits and committers must be at least 1")
    failed = threading.Event()

    # The syncer is entered first so that it shuts down last: a commit under way when the loop stops
    # still hands its sync over.
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="faro-batch-sync") as syncer,
        ThreadPoolExecutor(max_workers=committers, thread_name_prefix="faro-batch-commit") as committer,
    ):

        def commit_then_sync(batch: B) -> Future[list[R]]:
            if failed.is_set():
                raise CommitSkipped("not committed: a batch before it failed")
            try:
                committed = commit(batch)
            except BaseException:
                failed.set()
                raise
            return syncer.submit(sync, batch, committed)

        commits: deque[Future[Future[list[R]]]] = deque()
        syncing: Future[list[R]] | None = None
        for batch in batches:
            if len(commits) >= queued_commits:
                syncing = yield from _after_commit(commits.popleft(), syncing)
            commits.append(committer.submit(commit_then_sync, batch))
        while commits:
            syncing = yield from _after_commit(commits.popleft(), syncing)
        if syncing is not None:
            yield from syncing.result()


def _after_commit(
    committing: Future[Future[list[R]]], syncing: Future[list[R]] | None
) -> Generator[R, None, Future[list[R]]]:
    """Wait for a commit, yield the results of the batch before it (also when this commit failed: that one
    is written), and return the committed batch's sync."""
    try:
        following = committing.result()
    except BaseException:
        if syncing is not None:
            yield from syncing.result()
        raise
    if syncing is not None:
        yield from syncing.result()
    return following
