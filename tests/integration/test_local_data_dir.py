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


def test_damaged_qdrant_data_and_model_record_are_one_line_naming_the_file(tmp_path: Path) -> None:
    from faro_workloads.contract.settings import QdrantConfig
    from faro_workloads.core.embedding.hashing import HashingEmbedder
    from faro_workloads.core.stores.qdrant_connection import LocalDataUnreadable, open_client
    from faro_workloads.services.local_models import MARKER_FILE, check_dimension
    from faro_workloads.services.local_options import LocalModeError, LocalOptions

    qdrant = tmp_path / "qdrant"
    open_client(QdrantConfig(path=str(qdrant))).close()
    (qdrant / "meta.json").write_text("{bad")
    with pytest.raises(LocalDataUnreadable, match=rf"cannot be read \({qdrant}/meta\.json: Expecting"):
        open_client(QdrantConfig(path=str(qdrant)))

    options = LocalOptions(data_dir=tmp_path)
    check_dimension(options, HashingEmbedder())  # writes the record
    (tmp_path / MARKER_FILE).write_text("[1")
    with pytest.raises(LocalModeError, match=rf"^{tmp_path / MARKER_FILE} cannot be read \("):
        check_dimension(options, HashingEmbedder())
