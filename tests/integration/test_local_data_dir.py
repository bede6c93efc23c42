"""A data folder ``faro local`` cannot use is said in one line: one held by another run (the kernel's lock,
released when that run dies, however it dies), one whose embedded PostgreSQL does not start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from faro_workloads.embedded_postgres import EmbeddedPostgresError, start_embedded_postgres
from faro_workloads.services.data_dir_lock import LOCK_FILE, DataDirInUse, DataDirLock

from support.polling import wait_for

pytestmark = pytest.mark.integration

HOLD = """
import sys, time
from pathlib import Path
from faro_workloads.services.data_dir_lock import DataDirLock
DataDirLock(Path(sys.argv[1])).acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_a_folder_held_by_another_run_is_refused_until_that_run_is_gone(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(DataDirInUse, match=rf"is in use by another faro local \(pid {holder.pid}\)"):
            DataDirLock(tmp_path).acquire()
    finally:
        holder.kill()  # as kill -9: nothing is cleaned up by the holder
        holder.wait()
    lock = DataDirLock(tmp_path).acquire()  # the kernel let go of the dead run's lock
    assert (tmp_path / LOCK_FILE).read_text().strip() == str(os.getpid())
    with pytest.raises(DataDirInUse):
        DataDirLock(tmp_path).acquire()  # a second run in this process is refused as well
    lock.close()
    DataDirLock(tmp_path).acquire().close()


def test_an_embedded_postgres_that_does_not_start_is_one_line_naming_its_log(tmp_path: Path) -> None:
    pgdata = tmp_path / "postgres"
    server = start_embedded_postgres(pgdata)
    server.cleanup()
    (pgdata / "PG_VERSION").write_text("garbage\n")
    with pytest.raises(EmbeddedPostgresError) as refused:
        start_embedded_postgres(pgdata)
    message = str(refused.value)
    assert (
        "\n" not in message and f"did not start (pg_ctl start failed; its log: {pgdata / 'log'})" in message
    )


def test_an_embedded_postgres_slower_to_start_than_pgserver_waits_is_joined(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pgserver gives `pg_ctl start` 10 s; on a busy machine (CI's two workers) PostgreSQL took longer and
    `faro local` refused a fresh folder as damaged. Here pg_ctl starts the server without waiting for it,
    and then reports its 10 s gone."""
    import pgserver.postgres_server as pgserver_module

    started = pgserver_module.pg_ctl

    def impatient(args, **kwargs):  # type: ignore[no-untyped-def]
        if args[-1] != "start":
            return started(args, **kwargs)
        started(["-W" if arg == "-w" else arg for arg in args], **kwargs)
        wait_for((pgdata / "log").is_file, timeout=10, what="the server's log")  # as after 10 s
        raise subprocess.TimeoutExpired(["pg_ctl", *args], kwargs.get("timeout", 10))

    pgdata = tmp_path / "postgres"
    monkeypatch.setattr(pgserver_module, "pg_ctl", impatient)
    server = start_embedded_postgres(pgdata)
    try:
        assert server.psql("SELECT 41 + 1;").split()[2] == "42"
    finally:
        server.cleanup()


def test_damaged_qdrant_data_and_model_record_are_one_line_naming_the_file(tmp_path: Path) -> None:
    from faro_workloads.contract.settings import QdrantConfig
    from faro_workloads.core.embedding.hashing import HashingEmbedder
    from faro_workloads.core.stores.qdrant_connection import LocalDataUnreadable, open_client
    from faro_workloads.services.local_models import MARKER_FILE, check_dimension
    from faro_workloads.services.local_options import LocalModeError, LocalOptions

    qdrant = tmp_path / "qdrant"
    python_engine = QdrantConfig(path=str(qdrant), local_engine="python")
    open_client(python_engine).close()
    (qdrant / "meta.json").write_text("{bad")
    with pytest.raises(LocalDataUnreadable, match=rf"cannot be read \({qdrant}/meta\.json: Expecting"):
        open_client(python_engine)

    options = LocalOptions(data_dir=tmp_path)
    check_dimension(options, HashingEmbedder())  # writes the record
    (tmp_path / MARKER_FILE).write_text("[1")
    with pytest.raises(LocalModeError, match=rf"^{tmp_path / MARKER_FILE} cannot be read \("):
        check_dimension(options, HashingEmbedder())
