"""One ``faro local`` per data folder. Its embedded PostgreSQL could serve two, but Qdrant's local mode
cannot (its storage is one process's), and two ingesting into one folder would race for its outbox: the
second run is told, in one line, which process holds the folder. The lock is the kernel's (``flock``), so a
run killed with ``kill -9`` leaves nothing to clean up."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from faro_workloads.errors import ConfigurationError

LOCK_FILE = "faro-local.lock"


class DataDirInUse(ConfigurationError):
    """Another process holds the data folder."""


class DataDirLock:
    """The lock on one data folder, held from :meth:`acquire` until :meth:`close`."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._fd: int | None = None

    def acquire(self) -> DataDirLock:
        """Take the folder (its lock file holds this process's pid); raises :class:`DataDirInUse`."""
        fd = os.open(self._data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise DataDirInUse(
                f"{self._data_dir} is in use by another faro local (pid {holder}): stop it first, "
                "or give this one another --data-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd
        return self

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the last descriptor releases the lock
            self._fd = None
