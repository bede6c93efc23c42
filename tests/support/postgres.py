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
