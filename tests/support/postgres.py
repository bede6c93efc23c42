"""A throwaway PostgreSQL + pgvector from pgserver's embedded binaries (the ``[local]`` extra), for the tests,
the observability stack and the benchmarks."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def temporary_postgres(prefix: str = "faro-pg-") -> Iterator[str]:
    """Start PostgreSQL in a new folder under /tmp and yield its DSN; stop it and remove the folder after.

    The folder is short and under /tmp because the server's unix socket lives inside it (a socket path has
    at most 107 characters).
    """
    import pgserver

    data_dir = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    try:
        server = pgserver.get_server(data_dir, cleanup_mode="stop")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def drop_connections(dsn: str, running_like: str) -> int:
    """Terminate every other session whose last statement mentions ``running_like`` (a table's name), as a
    server restart or a failover would; returns how many were ended."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as admin:
        return len(
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND query LIKE %s",
                (f"%{running_like}%",),
            ).fetchall()
        )


LEXICAL_TEXTS = {
    "busy": "sqlite3_busy_timeout sets a busy handler that sleeps when a table is locked.",
    "wal": "WAL mode: the WAL file grows until a checkpoint moves it back; checkpoint often.",
    "pragma": "PRAGMA journal_mode=WAL turns write-ahead logging on; the journal is kept in the WAL file.",
    "push": "git push --force-with-lease refuses to overwrite a branch someone else updated.",
    "vacuum": "VACUUM rebuilds the database file, repacking it into a minimal amount of disk space.",
}
"""Five short documents of identifiers, flags and words, each the answer to a question of its own words
(the lexical and asynchronous search tests)."""
