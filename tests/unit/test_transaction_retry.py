"""Which PostgreSQL errors make a transaction run again, how often, and how long it waits in between.

The errors are psycopg's own classes for each SQLSTATE; a real deadlock against PostgreSQL is in
tests/integration/test_write_races.py.
"""

from __future__ import annotations

import logging

import psycopg
import pytest
from tenacity import RetryCallState, Retrying, wait_none

from faro_workloads.core.stores.transaction_retry import (
    BACKOFF_MAX_SECONDS,
    BACKOFF_MULTIPLIER_SECONDS,
    TRANSACTION_ATTEMPTS,
    is_retryable,
    run_transaction,
    transaction_backoff,
)

RETRYABLE = [psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure]
NOT_RETRYABLE = [
    psycopg.OperationalError,  # e.g. connection refused: an outage, for the caller to report
    psycopg.errors.AdminShutdown,  # 57P01, the server is going down
    psycopg.errors.QueryCanceled,  # 57014, statement_timeout
    psycopg.errors.LockNotAvailable,  # 55P03, lock_timeout / NOWAIT
    psycopg.errors.StatementCompletionUnknown,  # 40003: the commit may have happened
    psycopg.errors.TransactionRollback,  # 40000 without a more precise cause
    psycopg.errors.UniqueViolation,
    psycopg.errors.InFailedSqlTransaction,
]


@pytest.mark.parametrize("error", RETRYABLE, ids=lambda e: e.sqlstate)
def test_deadlocks_and_serialization_failures_are_retried(error: type[psycopg.Error]) -> None:
    assert is_retryable(error("aborted"))


@pytest.mark.parametrize("error", [*NOT_RETRYABLE, ValueError, RuntimeError], ids=lambda e: e.__name__)
def test_other_errors_are_not(error: type[Exception]) -> None:
    assert not is_retryable(error("failed"))


class Attempts:
    """An attempt that fails with the given errors in turn, then returns "committed"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "committed"


def test_a_transaction_aborted_by_deadlocks_runs_again_until_it_commits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempt = Attempts(
        psycopg.errors.DeadlockDetected("deadlock detected\nDETAIL: ..."),
        psycopg.errors.SerializationFailure("could not serialize access"),
    )
    with caplog.at_level(logging.WARNING):
        assert run_transaction("write_document", attempt, wait=wait_none()) == "committed"
    assert attempt.calls == 3
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 2
    assert "write_document: deadlock detected (SQLSTATE 40P01), attempt 1 of 5" in warnings[0]
    assert "(SQLSTATE 40001), attempt 2 of 5" in warnings[1]


def test_the_last_error_surfaces_once_the_attempts_are_spent() -> None:
    errors = [psycopg.errors.DeadlockDetected(f"deadlock {n}") for n in range(TRANSACTION_ATTEMPTS + 1)]
    attempt = Attempts(*errors)
    with pytest.raises(psycopg.errors.DeadlockDetected) as raised:
        run_transaction("delete_document", attempt, wait=wait_none())
    assert attempt.calls == TRANSACTION_ATTEMPTS
    assert raised.value is errors[TRANSACTION_ATTEMPTS - 1]

    attempt = Attempts(*errors)
    with pytest.raises(psycopg.errors.DeadlockDetected):
        run_transaction("delete_document", attempt, attempts=2, wait=wait_none())
    assert attempt.calls == 2


@pytest.mark.parametrize("error", NOT_RETRYABLE, ids=lambda e: e.__name__)
def test_other_errors_surface_after_one_attempt(error: type[psycopg.Error]) -> None:
    attempt = Attempts(error("failed"))
    with pytest.raises(error):
        run_transaction("write_document", attempt, wait=wait_none())
    assert attempt.calls == 1


def test_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        run_transaction("write_document", Attempts(), attempts=0)


def test_waits_grow_exponentially_with_full_jitter_up_to_a_bound() -> None:
    wait = transaction_backoff()
    state = RetryCallState(Retrying(), None, (), {})
    for attempt in range(1, 12):
        state.attempt_number = attempt
        bound = min(BACKOFF_MAX_SECONDS, BACKOFF_MULTIPLIER_SECONDS * 2 ** (attempt - 1))
        waits = [wait(state) for _ in range(200)]
        assert all(0 <= value <= bound for value in waits)
        assert len(set(waits)) > 100  # jittered: colliding transactions do not retry in step
    assert bound == BACKOFF_MAX_SECONDS
