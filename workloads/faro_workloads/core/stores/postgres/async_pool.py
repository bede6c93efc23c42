"""The asynchronous side of a collection's connection pool: the query service's reads on its event loop,
with no thread hand-off (:class:`AsyncPostgresPool`), on the read endpoint (``read_dsn``, a replica) when
one is configured.

Its connections are set up as the synchronous pool's are (autocommit, the session's ``hnsw.ef_search``,
pgvector's types, read-only when asked) and a read behaves the same: no liveness round trip at checkout, one
more try on a checked connection if the first turns out broken. One pool per event loop
(:class:`~faro_workloads.core.loop_bound.LoopBound`), opened on first use: a process that never queries
asynchronously opens none.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from contextvars import ContextVar
from typing import TypeVar

import psycopg
from pgvector.psycopg import register_vector_async
from prometheus_client import Histogram
from psycopg_pool import AsyncConnectionPool

from faro_workloads.contract.settings import PostgresConfig
from faro_workloads.core.loop_bound import LoopBound
from faro_workloads.core.metrics import STORE_SECONDS
from faro_workloads.core.stores.postgres.sessions import connection_kwargs, log_notice, session_setup

log = logging.getLogger(__name__)

BACKEND = "postgres"

T = TypeVar("T")

_CHECK_AT_CHECKOUT: ContextVar[bool] = ContextVar("faro_pg_async_check_at_checkout", default=True)


@functools.cache
def _timer(operation: str) -> Histogram:
    """``operation``'s child of ``faro_store_seconds`` (looked up once: a lookup takes a lock)."""
    return STORE_SECONDS.labels(BACKEND, operation)


async def _check_at_checkout(conn: psycopg.AsyncConnection) -> None:
    """The pool's ``check`` hook: a round trip unless the caller retries on its own (see :meth:`read`)."""
    if _CHECK_AT_CHECKOUT.get():
        await AsyncConnectionPool.check_connection(conn)


class AsyncPostgresPool:
    """Asynchronous autocommit connections to one database, at most ``config.pool_size`` per loop."""

    def __init__(self, config: PostgresConfig, name: str, read_only: bool = False) -> None:
        self._config = config
        self._name = f"faro-pg-async-{name}"
        self._kwargs = connection_kwargs(config, read_only)
        self._setup = session_setup(config)
        self._pools: LoopBound[AsyncConnectionPool] = LoopBound(self._name, self._open, _close)

    async def _open(self) -> AsyncConnectionPool:
        dsn = self._config.read_dsn or self._config.dsn  # the query path's searches: a replica when given
        pool = AsyncConnectionPool(
            dsn.get_secret_value(),
            min_size=1,
            max_size=self._config.pool_size,
            configure=self._new_connection,
            check=_check_at_checkout,
            timeout=self._config.connect_timeout_seconds,
            kwargs=self._kwargs,
            name=self._name,
            open=False,
        )
        await pool.open()
        return pool

    async def _new_connection(self, conn: psycopg.AsyncConnection) -> None:
        conn.add_notice_handler(log_notice)
        await self._configure_connection(conn)

    async def _configure_connection(self, conn: psycopg.AsyncConnection) -> None:
        """The session's ``hnsw.ef_search`` and pgvector's types (once the extension exists)."""
        await conn.execute(self._setup)
        with suppress(psycopg.ProgrammingError):  # no `vector` type in this database yet
            await register_vector_async(conn)

    @asynccontextmanager
    async def connection(
        self, operation: str, checked: bool = True
    ) -> AsyncIterator[psycopg.AsyncConnection]:
        """A pooled connection, timed as ``operation`` (``checked=False``: no liveness round trip)."""
        pool = await self._pools.get()
        token = _CHECK_AT_CHECKOUT.set(checked)
        try:
            with _timer(operation).time():
                async with pool.connection() as conn:
                    if conn.adapters.types.get("vector") is None:
                        await self._configure_connection(conn)
                    yield conn
        finally:
            _CHECK_AT_CHECKOUT.reset(token)

    async def read(self, operation: str, read: Callable[[psycopg.AsyncConnection], Awaitable[T]]) -> T:
        """``await read(conn)`` (idempotent) on a connection handed out without the liveness round trip;
        once more on a checked connection if that one turns out broken (e.g. the server restarted)."""
        conn: psycopg.AsyncConnection | None = None
        try:
            async with self.connection(operation, checked=False) as conn:
                return await read(conn)
        except psycopg.OperationalError as exc:
            if conn is None or not (conn.broken or conn.closed):
                raise
            log.info("postgres connection broken during %s, retrying on a checked one: %s", operation, exc)
        async with self.connection(operation) as conn:
            return await read(conn)

    async def aclose(self) -> None:
        """Close the running loop's pool."""
        await self._pools.aclose()

    def close(self) -> None:
        """Close every loop's pool (from any thread)."""
        self._pools.close()


async def _close(pool: AsyncConnectionPool) -> None:
    await pool.close()
