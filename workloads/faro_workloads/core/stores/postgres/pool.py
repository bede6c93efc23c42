"""The connection pool of one collection's store, and the ways its parts run statements on it.

Every connection is autocommit: a read is one statement, no BEGIN/COMMIT; writes open explicit transactions
(:meth:`PostgresPool.transaction`, :meth:`PostgresPool.write`). A write aborted by a deadlock or
serialization failure runs again (:mod:`faro_workloads.core.stores.transaction_retry`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import TypeVar

import psycopg
from pgvector.psycopg import register_vector
from psycopg_pool import ConnectionPool

from faro_workloads.contract.settings import PostgresConfig
from faro_workloads.core.metrics import STORE_SECONDS
from faro_workloads.core.stores.postgres.async_pool import AsyncPostgresPool
from faro_workloads.core.stores.postgres.sessions import connection_kwargs, log_notice, session_setup
from faro_workloads.core.stores.transaction_retry import run_transaction

log = logging.getLogger(__name__)

BACKEND = "postgres"

# Whether the pool checks a connection with a round trip when handing it out: yes, except for idempotent
# reads, which instead retry once on a checked connection if theirs turns out broken (see `read`).
_CHECK_AT_CHECKOUT: ContextVar[bool] = ContextVar("faro_pg_check_at_checkout", default=True)

T = TypeVar("T")


def _check_at_checkout(conn: psycopg.Connection) -> None:
    """The pool's ``check`` hook: a round trip (``SELECT ''``) unless the caller retries on its own."""
    if _CHECK_AT_CHECKOUT.get():
        ConnectionPool.check_connection(conn)


class PostgresPool:
    """A small pool of autocommit connections to one database, named after the collection it serves."""

    def __init__(self, config: PostgresConfig, name: str, read_only: bool = False) -> None:
        """``read_only``: every transaction of the pool's sessions is read-only (PostgreSQL refuses a write),
        for a process that only reads."""
        self._config = config
        self._setup = session_setup(config)
        self._pool = ConnectionPool(
            config.dsn.get_secret_value(),
            min_size=1,
            max_size=config.pool_size,
            configure=self._new_connection,
            check=_check_at_checkout,
            timeout=config.connect_timeout_seconds,
            kwargs=connection_kwargs(config, read_only),
            name=f"faro-pg-{name}",
            open=True,
        )
        self.async_pool = AsyncPostgresPool(config, name, read_only)
        """The same connections' asynchronous twin, for the query service's event loop (opened on first
        use)."""

    def _new_connection(self, conn: psycopg.Connection) -> None:
        """The pool's ``configure`` hook: the server's notices go to the log, then the session is set up."""
        conn.add_notice_handler(log_notice)
        self._configure_connection(conn)

    def _configure_connection(self, conn: psycopg.Connection) -> None:
        """Set the session's ``hnsw.ef_search`` and teach the connection the pgvector types, if the extension
        exists yet (else a later checkout will).

        Runs when a connection is made and again at checkout for connections opened before
        ``CREATE EXTENSION vector`` (a store is often built before its schema is ensured). Setting
        ``ef_search`` once per connection keeps a search to one statement (a placeholder setting until the
        extension is loaded, which then adopts it).
        """
        conn.execute(self._setup)
        with suppress(psycopg.ProgrammingError):  # no `vector` type in this database yet
            register_vector(conn)

    @contextmanager
    def connection(self, operation: str, checked: bool = True) -> Iterator[psycopg.Connection]:
        """A pooled (autocommit) connection, timed as ``operation``.

        ``checked=False`` skips the pool's liveness round trip; only for callers that retry on a broken
        connection (:meth:`read`).
        """
        token = _CHECK_AT_CHECKOUT.set(checked)
        try:
            with STORE_SECONDS.labels(BACKEND, operation).time(), self._pool.connection() as conn:
                if conn.adapters.types.get("vector") is None:
                    self._configure_connection(conn)
                yield conn
        finally:
            _CHECK_AT_CHECKOUT.reset(token)

    @contextmanager
    def transaction(self, operation: str) -> Iterator[psycopg.Connection]:
        """A pooled connection inside one transaction (committed on success), timed as ``operation``."""
        with self.connection(operation) as conn, conn.transaction():
            yield conn

    def write(self, operation: str, write: Callable[[psycopg.Connection], T]) -> T:
        """``write(conn)`` in one transaction, run again in a new one when PostgreSQL aborts it for a deadlock
        or a serialization failure (:func:`run_transaction`); ``write`` must only act through ``conn``."""

        def attempt() -> T:
            with self.transaction(operation) as conn:
                return write(conn)

        return run_transaction(operation, attempt)

    def read(self, operation: str, read: Callable[[psycopg.Connection], T]) -> T:
        """``read(conn)`` (idempotent) on a connection handed out without the liveness round trip.

        If that connection turns out broken (e.g. the server restarted since its last use), the read runs once
        more on a checked connection, so callers see what a checked checkout would have given them.
        """
        conn: psycopg.Connection | None = None
        try:
            with self.connection(operation, checked=False) as conn:
                return read(conn)
        except psycopg.OperationalError as exc:
            if conn is None or not (conn.broken or conn.closed):
                raise
            log.info("postgres connection broken during %s, retrying on a checked one: %s", operation, exc)
        with self.connection(operation) as conn:
            return read(conn)

    def healthy(self) -> bool:
        """A cheap reachability check for readiness probes (``SELECT 1``); never raises."""
        try:
            with self._pool.connection(timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except Exception:
            return False

    def close(self) -> None:
        """Close the connection pool (and its asynchronous twin's)."""
        self.async_pool.close()
        self._pool.close()
