"""The ordered commit/sync pipeline behind ingest_many: order, overlap, and what happens on errors."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest

from faro_workloads.core.batch_pipeline import pipelined

WAIT = 10.0  # seconds a stage waits for another before the test calls it a failure (never on success)


class Recorder:
    """Commit and sync stages that record what they did, on which thread."""

    def __init__(self, delays: bool = False) -> None:
        self.committed: list[int] = []
        self.synced: list[int] = []
        self.threads: dict[str, set[str]] = {"commit": set(), "sync": set()}
        self._random = random.Random(7) if delays else None

    def _pause(self) -> None:
        if self._random is not None:
            time.sleep(self._random.uniform(0, 0.005))

    def commit(self, batch: list[int]) -> str:
        self._pause()
        self.threads["commit"].add(threading.current_thread().name)
        self.committed.append(batch[0])
        return f"tx{batch[0]}"

    def sync(self, batch: list[int], committed: str) -> list[str]:
        self._pause()
        self.threads["sync"].add(threading.current_thread().name)
        self.synced.append(batch[0])
        return [f"{committed}:{item}" for item in batch]


def _batches(count: int, size: int = 3) -> list[list[int]]:
    return [list(range(start, start + size)) for start in range(0, count * size, size)]


def test_results_come_in_order_from_one_commit_thread_and_one_sync_thread() -> None:
    recorder = Recorder(delays=True)
    batches = _batches(30)

    results = list(pipelined(batches, recorder.commit, recorder.sync))

    assert results == [f"tx{batch[0]}:{item}" for batch in batches for item in batch]
    assert recorder.committed == recorder.synced == [batch[0] for batch in batches]
    assert len(recorder.threads["commit"]) == len(recorder.threads["sync"]) == 1
    assert recorder.threads["commit"].isdisjoint(recorder.threads["sync"] | {threading.current_thread().name})


def test_a_batch_syncs_while_the_next_commits_and_the_caller_makes_the_one_after() -> None:
    made: list[int] = []
    second_batch_made = threading.Event()
    third_batch_made = threading.Event()
    second_commit_started = threading.Event()

    def batches() -> Iterator[list[int]]:
        for number in range(4):
            made.append(number)
            if number == 1:
                second_batch_made.set()
            if number == 2:
                third_batch_made.set()
            yield [number]

    def commit(batch: list[int]) -> int:
        if batch[0] == 0:  # the caller goes on making batches while the first one commits
            assert second_batch_made.wait(WAIT)
        if batch[0] == 1:
            second_commit_started.set()
            assert third_batch_made.wait(WAIT)
        return batch[0]

    def sync(batch: list[int], committed: int) -> list[int]:
        if committed == 0:  # the first batch's sync overlaps the second batch's commit
            assert second_commit_started.wait(WAIT)
        return batch

    assert list(pipelined(batches(), commit, sync)) == [0, 1, 2, 3]
    assert made == [0, 1, 2, 3]


def test_the_caller_stays_at_most_queued_commits_ahead() -> None:
    progress = threading.Condition()
    release = threading.Semaphore(0)
    made: list[int] = []
    ahead: list[int] = []
    committed: list[int] = []

    def batches() -> Iterator[list[int]]:
        for number in range(6):
            with progress:
                ahead.append(number - len(committed))
                made.append(number)
                progress.notify_all()
            yield [number]

    def commit(batch: list[int]) -> int:
        assert release.acquire(timeout=WAIT)
        committed.append(batch[0])
        return batch[0]

    def releaser() -> None:
        # Batch n commits only once batches up to n + 2 were made (one committing, one queued, one made:
        # the most queued_commits=2 allows); the pause lets a caller that may go further show it.
        for number in range(6):
            with progress:
                assert progress.wait_for(lambda n=number: len(made) >= min(n + 3, 6), timeout=WAIT)
            time.sleep(0.01)
            release.release()

    helper = threading.Thread(target=releaser)
    helper.start()
    results = list(pipelined(batches(), commit, lambda batch, _: batch, queued_commits=2))
    helper.join()

    assert results == list(range(6))
    assert max(ahead) == 2


def test_a_failed_commit_stops_the_batches_after_it_and_yields_the_ones_before() -> None:
    recorder = Recorder()

    def commit(batch: list[int]) -> str:
        if batch[0] == 6:
            raise RuntimeError("postgres is gone")
        return recorder.commit(batch)

    received: list[str] = []
    with pytest.raises(RuntimeError, match="postgres is gone"):
        for result in pipelined(_batches(10), commit, recorder.sync):
            received.append(result)

    assert recorder.committed == [0, 3]
    assert recorder.synced == [0, 3]
    assert received == ["tx0:0", "tx0:1", "tx0:2", "tx3:3", "tx3:4", "tx3:5"]


def test_when_making_batches_fails_the_ones_made_before_are_still_written() -> None:
    recorder = Recorder(delays=True)

    def batches() -> Iterator[list[int]]:
        yield from _batches(5)
        raise ValueError("document 'x' given twice")

    with pytest.raises(ValueError, match="given twice"):
        list(pipelined(batches(), recorder.commit, recorder.sync))

    assert recorder.committed == recorder.synced == [0, 3, 6, 9, 12]


def test_two_committers_commit_two_batches_at_once_and_results_stay_in_order() -> None:
    both_committing = threading.Barrier(2, timeout=WAIT)
    recorder = Recorder(delays=True)

    def commit(batch: list[int]) -> str:
        if batch[0] in (0, 3):  # the first two batches meet inside commit: only possible if concurrent
            both_committing.wait()
        return recorder.commit(batch)

    batches = _batches(20)
    results = list(pipelined(batches, commit, recorder.sync, queued_commits=3, committers=2))

    assert results == [f"tx{batch[0]}:{item}" for batch in batches for item in batch]
    assert sorted(recorder.committed) == [batch[0] for batch in batches]
    assert len(recorder.threads["commit"]) == 2 and len(recorder.threads["sync"]) == 1


def test_with_two_committers_a_failed_commit_skips_the_batches_not_yet_started() -> None:
    recorder = Recorder()
    failing = threading.Event()

    def commit(batch: list[int]) -> str:
        if batch[0] == 3:
            failing.set()
            raise RuntimeError("postgres is gone")
        if batch[0] == 0:  # still under way when the other committer fails: it finishes
            assert failing.wait(WAIT)
        return recorder.commit(batch)

    received: list[str] = []
    with pytest.raises(RuntimeError, match="postgres is gone"):
        for result in pipelined(_batches(10), commit, recorder.sync, queued_commits=4, committers=2):
            received.append(result)

    # Batch 0 was under way and finished; batches queued behind the failed one were skipped (at most the
    # one the freed committer picked up right away, before the failure was recorded, is not: none here,
    # as the flag is set before the exception leaves the failing commit).
    assert recorder.committed == [0]
    assert received == ["tx0:0", "tx0:1", "tx0:2"]


def test_nothing_to_do_and_bad_settings() -> None:
    recorder = Recorder()
    assert list(pipelined([], recorder.commit, recorder.sync)) == []
    assert recorder.committed == []
    with pytest.raises(ValueError, match="queued_commits"):
        list(pipelined([[1]], recorder.commit, recorder.sync, queued_commits=0))
    with pytest.raises(ValueError, match="committers"):
        list(pipelined([[1]], recorder.commit, recorder.sync, committers=0))
