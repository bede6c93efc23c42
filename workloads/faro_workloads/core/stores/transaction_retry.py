"""Running a PostgreSQL transaction again when it lost a lock conflict (deadlock, serialization failure).

PostgreSQL breaks a deadlock by aborting one of its transactions (SQLSTATE 40P01) and, under REPEATABLE READ
or SERIALIZABLE, aborts a transaction whose reads a concurrent commit invalidated (40001). Either way the
whole transaction was rolled back and the server is fine: running the transaction again, a moment later, is
the documented remedy. Both errors are ``psycopg.OperationalError`` subclasses, like a lost connection, so
without a retry a caller would report an outage for what is only contention.

:func:`run_transaction` runs one transaction attempt after another (each a fresh transaction on a fresh pooled
connection, see ``PostgresPool.write``) with tenacity: at most :data:`TRANSACTION_ATTEMPTS` attempts,
waiting a random time up to an exponentially growing bound in between (full jitter, so the transactions
that collided do not collide again in step). Other errors, and the last attempt's error, propagate as is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import psycopg
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential
from tenacity.wait import wait_base

from faro_workloads.core.metrics import RETRIED_TRANSACTIONS, TRANSACTION_RETRIES, expose_label_values

log = logging.getLogger(__name__)
expose_label_values(TRANSACTION_RETRIES, RETRIED_TRANSACTIONS)

T = TypeVar("T")

# Errors after which the same transaction, run again, normally succeeds.
RETRYABLE_ERRORS: tuple[type[psycopg.Error], ...] = (
    psycopg.errors.DeadlockDetected,  # 40P01
    psycopg.errors.SerializationFailure,  # 40001
)
TRANSACTION_ATTEMPTS = 5
# The wait after failed attempt n: random in [0, min(MAX, MULTIPLIER * 2**(n - 1))] seconds, so with 5
# attempts at most 0.05 + 0.1 + 0.2 + 0.4 s in all.
BACKOFF_MULTIPLIER_SECONDS = 0.05
BACKOFF_MAX_SECONDS = 1.0


def is_retryable(error: BaseException) -> bool:
    """Whether ``error`` aborted a transaction that may simply be run again (deadlock, serialization)."""
    return isinstance(error, RETRYABLE_ERRORS)


def transaction_backoff() -> wait_base:
    """The wait between two attempts (tenacity's full-jitter exponential backoff)."""
    return wait_random_exponential(multiplier=BACKOFF_MULTIPLIER_SECONDS, max=BACKOFF_MAX_SECONDS)


def run_transaction(
    operation: str,
    attempt: Callable[[], T],
    attempts: int = TRANSACTION_ATTEMPTS,
    wait: wait_base | None = None,
) -> T:
    """``attempt()`` (one whole transaction), run again while it fails with a retryable error.

    Gives up after ``attempts`` attempts and raises the last error; raises any other error at once.
    ``operation`` names the transaction in the warning logged before each retry.
    """
    if attempts < 1:
        raise ValueError("attempts must be at least 1")

    def warn(state: RetryCallState) -> None:
        TRANSACTION_RETRIES.labels(operation).inc()
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "postgres %s: %s (SQLSTATE %s), attempt %d of %d; retrying in %.2fs",
            operation,
            str(error).splitlines()[0] if error else "",
            getattr(error, "sqlstate", None),
            state.attempt_number,
            attempts,
            state.upcoming_sleep,
        )

    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait if wait is not None else transaction_backoff(),
        retry=retry_if_exception(is_retryable),
        before_sleep=warn,
        reraise=True,
    )
    return retrying(attempt)
