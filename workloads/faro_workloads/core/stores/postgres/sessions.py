"""How every PostgreSQL session of a collection's pools is opened and set up, blocking or asynchronous."""

from __future__ import annotations

import logging

from psycopg import errors, sql

from faro_workloads.contract.settings import PostgresConfig

log = logging.getLogger("faro_workloads.postgres")
"""Where the server's notices and warnings to a session go (e.g. pgvector's note that an index build no
longer fits in ``maintenance_work_mem``)."""

_LEVELS = {"WARNING": logging.WARNING, "NOTICE": logging.INFO, "INFO": logging.INFO}
_SKIPPING = "42"  # "... already exists, skipping": the idempotent DDL's own notices, not news


def log_notice(notice: errors.Diagnostic) -> None:
    """A session's notice handler: the server's message, logged at its severity (debug for DEBUG and LOG,
    and for the "already exists, skipping" notices of ``CREATE ... IF NOT EXISTS``)."""
    severity = notice.severity_nonlocalized or ""
    level = _LEVELS.get(severity, logging.DEBUG)
    if severity == "NOTICE" and (notice.sqlstate or "").startswith(_SKIPPING):
        level = logging.DEBUG
    log.log(level, "postgres %s: %s", severity.lower(), notice.message_primary)


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
