"""``faro local``'s embedded PostgreSQL (pgserver, the ``[local]`` extra), whose server lives in its data
folder: :func:`start_embedded_postgres` starts it quietly (pgserver logs every command it runs, and the
whole server log when one fails), after :func:`forget_crashed_users`, the crash clean-up."""

from __future__ import annotations

import atexit
import json
import logging
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

from faro_workloads.errors import ConfigurationError

log = logging.getLogger(__name__)

HANDLE_LIST = ".handle_pids.json"  # pgserver's list of the processes using the server of a PGDATA
CLOCK_SLACK_SECONDS = 2.0  # process start times are known to about a second (boot time in whole seconds)
STARTUP_SECONDS = 90.0
"""How long a starting server may take to be ready, beyond pgserver's own 10 s, before it counts as failed."""


def forget_crashed_users(pgdata: Path) -> list[int]:
    """Drop from pgserver's list of a server's users the processes that are gone; returns the pids dropped.

    pgserver (0.1.x) records the pid of every process that calls ``get_server`` in
    ``PGDATA/.handle_pids.json`` and stops PostgreSQL only when the last recorded process lets go
    (``cleanup()`` or at exit). A process killed with SIGKILL never lets go: its pid stays in the list, and
    every later graceful stop sees another user and leaves PostgreSQL running. Call this before
    ``get_server``. A pid still counts as a user only if that process runs and was started before the list
    was last written: a pid reused by a newer process (pids wrap around) is no user either.
    """
    from pgserver.postgres_server import PostgresServer

    handles = pgdata / HANDLE_LIST
    with PostgresServer._lock:  # pgserver's own inter-process lock around its list
        if not handles.exists():
            return []
        try:
            pids = [int(pid) for pid in json.loads(handles.read_text())]
        except (ValueError, TypeError) as exc:
            log.warning("unreadable %s (%s): starting with an empty list of users", handles, exc)
            pids = []
        written = handles.stat().st_mtime
        alive = [pid for pid in pids if _user_since(pid, written)]
        if alive != pids:
            handles.write_text(json.dumps(alive))
    dropped = [pid for pid in pids if pid not in alive]
    if dropped:
        log.info("embedded PostgreSQL: forgot users %s that are gone (crashed)", dropped)
    return dropped


def _user_since(pid: int, written: float) -> bool:
    """Whether ``pid`` is a running process started before ``written`` (a time stamp)."""
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        return process.create_time() <= written + CLOCK_SLACK_SECONDS
    except psutil.NoSuchProcess:  # ZombieProcess too
        return False
    except psutil.AccessDenied:  # someone else's process: keep it, as pgserver would
        return True


def _ready_within(pgdata: Path, seconds: float) -> bool:
    """Whether the server of ``pgdata`` reports itself ready (its ``postmaster.pid``) within ``seconds``."""
    from pgserver.utils import PostmasterInfo

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            info = PostmasterInfo.read_from_pgdata(pgdata)
        except (AssertionError, ValueError, OSError):  # the file half written: PostgreSQL fills it in steps
            info = None
        if info is not None and info.is_running() and info.status == "ready":
            return True
        time.sleep(0.2)
    return False


def _forget_unstarted(pgdata: Path) -> None:
    """Drop the handle pgserver kept of a server it gave up on (it registers a handle before starting the
    server, and ``get_server`` would hand that one out again, never started), and its exit hook."""
    from pgserver.postgres_server import PostgresServer

    with PostgresServer._lock:
        unstarted = PostgresServer._instances.pop(pgdata.expanduser().resolve(), None)
    if unstarted is not None:
        atexit.unregister(unstarted._cleanup)


class EmbeddedPostgresError(ConfigurationError):
    """The embedded PostgreSQL of a data folder did not start (its log says why)."""


def start_embedded_postgres(pgdata: Path) -> Any:
    """pgserver's server for ``pgdata`` (made when missing), started if it is not running; pgserver's own
    logging kept to critical messages. Raises :class:`EmbeddedPostgresError`, one line naming the server's
    log, when it does not start."""
    with warnings.catch_warnings():  # pgserver asks for a runtime folder at import (unset in containers)
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        import pgserver
    logging.getLogger("pgserver").setLevel(logging.CRITICAL)
    if pgdata.exists():  # a crashed run's pid would keep every later stop from stopping PostgreSQL
        forget_crashed_users(pgdata)
    try:
        try:
            return pgserver.get_server(pgdata, cleanup_mode="stop")
        except subprocess.TimeoutExpired:
            # pgserver gives `pg_ctl start` 10 s; on a busy machine PostgreSQL is still starting then
            if not _ready_within(pgdata, STARTUP_SECONDS):
                raise
            _forget_unstarted(pgdata)
            return pgserver.get_server(pgdata, cleanup_mode="stop")  # joins the server that came up
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        server_log = pgdata / "log"  # where pgserver has pg_ctl write it
        where = f"its log: {server_log}" if server_log.is_file() else f"no server log in {pgdata}"
        raise EmbeddedPostgresError(
            f"the embedded PostgreSQL in {pgdata} did not start ({Path(str(exc.cmd[0])).name} "
            f"{exc.cmd[-1]} failed; {where}): a damaged data folder? Move it aside to start afresh"
        ) from exc
