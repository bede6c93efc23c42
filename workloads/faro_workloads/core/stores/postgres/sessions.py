"""How every PostgreSQL session of a collection's pools is opened and set up, blocking or asynchronous."""

from __future__ import annotations

from psycopg import sql

from faro_workloads.contract.settings import PostgresConfig


def connection_kwargs(config: PostgresConfig, read_only: bool) -> dict[str, object]:
    """A pooled connection's options: autocommit (a read is one statement, no BEGIN/COMMIT; writes open
    explicit transactions), the connect timeout, and read-only sessions when asked (PostgreSQL then refuses
    a write)."""
    kwargs: dict[str, object] = {
        "connect_timeout": max(1, round(config.connect_timeout_seconds)),
        "autocommit": True,
    }
    if read_only:
        kwargs["options"] = "-c default_transaction_read_only=on"
    return kwargs


def session_setup(config: PostgresConfig) -> sql.Composed:
    """What each new session runs first: the searches' ``hnsw.ef_search`` (set once per connection, so that a
    search is one statement)."""
    return sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(config.ef_search))
