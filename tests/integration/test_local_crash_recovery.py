"""`faro local` killed with SIGKILL and started again on the same data dir, as a user's machine would see it.

- With ``--s3``, every upload and delete answered 202 before the kill takes effect after the restart: the
  documents become searchable and are listed, the deleted one stays deleted.
- No moto_server of the killed run keeps running, and a graceful stop after the restart stops the embedded
  PostgreSQL (no postgres process of the data dir is left).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx
import psutil
import psycopg
import pytest

from faro_workloads.background_server import free_port

from support.faro_process import faro_process
from support.polling import wait_for

pytestmark = pytest.mark.integration

DOCUMENTS = 40
DOOMED = "doomed.md"


@pytest.fixture
def reaper() -> Iterator[list[Path]]:
    """Data dirs whose postgres (and moto_server) processes are killed at the end, whatever the test found:
    a failing test must not leave servers running on the machine."""
    data_dirs: list[Path] = []
    yield data_dirs
    for data_dir in data_dirs:
        for process in (*_postgres_of(data_dir), *_moto_servers_of(data_dir)):
            with suppress(psutil.NoSuchProcess):
                process.kill()


@contextmanager
def _local(data_dir: Path, *extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = ("local", "--data-dir", str(data_dir), "--port", str(port), *extra)
    log = data_dir.parent / f"faro-local-{port}.log"
    with faro_process(*args, log=log, ready_url=f"{url}/readyz") as process:
        yield url, process


def _kill_9(process: subprocess.Popen[bytes]) -> list[psutil.Process]:
    """SIGKILL ``faro local``; returns the moto_server processes it had started."""
    children = [child for child in psutil.Process(process.pid).children(recursive=True) if _is_moto(child)]
    process.kill()
    process.wait()
    return children


def _is_moto(process: psutil.Process) -> bool:
    try:
        return any("moto" in part for part in process.cmdline())
    except psutil.Error:
        return False


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _postgres_of(data_dir: Path) -> list[psutil.Process]:
    """The postmaster(s) serving ``data_dir/postgres`` (its children die with it)."""
    pgdata = str((data_dir / "postgres").resolve())
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if process.info["name"] == "postgres" and pgdata in cmdline and _running(process):
            found.append(process)
    return found


def _moto_servers_of(data_dir: Path) -> list[psutil.Process]:
    """moto_server processes whose log goes to this data dir (the ones ``faro local --s3`` started)."""
    log = str((data_dir / "s3-server.log").resolve())
    found = []
    for process in psutil.process_iter():
        try:
            if _is_moto(process) and _running(process) and any(f.path == log for f in process.open_files()):
                found.append(process)
        except psutil.Error:
            continue
    return found


def _stored_in_postgres(data_dir: Path) -> set[str]:
    """The documents in faro local's PostgreSQL, read directly (the server runs on after a kill)."""
    from pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata((data_dir / "postgres").resolve())
    assert info is not None and info.is_running()
    with psycopg.connect(info.get_uri(), autocommit=True) as conn:
        return {row[0] for row in conn.execute("SELECT doc_id FROM faro.default_documents")}


def _upload(url: str, doc_id: str) -> int:
    text = f"# {doc_id}\n\nLedger entry {doc_id}: the crash drill keeps acknowledged work.\n"
    return httpx.post(f"{url}/v1/documents", json={"doc_id": doc_id, "text": text}, timeout=60).status_code


def _searchable(url: str, doc_ids: list[str]) -> set[str]:
    """The documents of ``doc_ids`` that have chunks in the stores (each has one chunk)."""
    found: set[str] = set()
    for start in range(0, len(doc_ids), 50):
        batch = doc_ids[start : start + 50]
        answer = httpx.post(
            f"{url}/v1/query",
            json={"query": "ledger entry crash drill", "top_k": 50, "filter": {"doc_ids": batch}},
            timeout=30,
        )
        answer.raise_for_status()
        found |= {hit["doc_id"] for hit in answer.json()["hits"]}
    return found


def _listed(url: str) -> set[str]:
    answer = httpx.get(f"{url}/v1/documents", params={"limit": 1000}, timeout=30)
    answer.raise_for_status()
    return {document["doc_id"] for document in answer.json()["documents"]}


def test_s3_mode_keeps_acknowledged_uploads_and_deletes_across_kill_9(
    tmp_path: Path, reaper: list[Path]
) -> None:
    data_dir = tmp_path / "data"
    reaper.append(data_dir)
    doc_ids = [f"note-{n:03d}.md" for n in range(DOCUMENTS)]
    with _local(data_dir, "--s3") as (url, process):
        assert _upload(url, DOOMED) == 202
        wait_for(lambda: _searchable(url, [DOOMED]), 60, "the first document searchable")
        with ThreadPoolExecutor(max_workers=8) as pool:  # while the worker is embedding
            statuses = list(pool.map(lambda doc_id: _upload(url, doc_id), doc_ids))
        assert statuses == [202] * DOCUMENTS
        assert httpx.delete(f"{url}/v1/documents/{DOOMED}", timeout=30).status_code == 202
        motos = _kill_9(process)  # right after the last 202: uploads are still in flight
    stored_at_kill = _stored_in_postgres(data_dir)  # PostgreSQL outlives the kill (a daemon)
    print(f"at the kill: {len(stored_at_kill - {DOOMED})} of {DOCUMENTS} stored, {DOOMED in stored_at_kill=}")
    assert motos, "faro local --s3 had no moto_server child"
    wait_for(lambda: not any(_running(moto) for moto in motos), 30, "the killed run's moto_server to end")

    with _local(data_dir, "--s3") as (url, _):
        everything = [*doc_ids, DOOMED]
        wait_for(
            lambda: _searchable(url, everything) == set(doc_ids),
            120,
            f"all {DOCUMENTS} acknowledged documents searchable and {DOOMED} deleted "
            f"(at the kill PostgreSQL held {len(stored_at_kill - {DOOMED})} of them, "
            f"{DOOMED} {'still' if DOOMED in stored_at_kill else 'no more'})",
        )
        assert _listed(url) == set(doc_ids)
    assert not _moto_servers_of(data_dir)
    wait_for(lambda: not _postgres_of(data_dir), 30, "postgres of the data dir to stop with faro local")

    with _local(data_dir, "--s3") as (url, _):  # a graceful stop and start: still all there, nothing back
        assert _listed(url) == set(doc_ids)
        assert _searchable(url, everything) == set(doc_ids)


def test_a_graceful_stop_after_crashes_stops_the_embedded_postgres(
    tmp_path: Path, reaper: list[Path]
) -> None:
    data_dir = tmp_path / "data"
    reaper.append(data_dir)
    for _ in range(2):  # kill -9 twice: each crash leaves its pid behind in pgserver's list of users
        with _local(data_dir) as (_, process):
            _kill_9(process)
        assert _postgres_of(data_dir), "PostgreSQL runs on after a crash (a daemon), for the restart to reuse"
    with _local(data_dir) as (url, _):
        assert httpx.get(f"{url}/readyz", timeout=10).json()["checks"] == {"postgres": True, "qdrant": True}
    wait_for(lambda: not _postgres_of(data_dir), 30, "postgres of the data dir to stop with faro local")
    assert not (data_dir / "postgres" / "postmaster.pid").exists()


def test_a_moto_server_left_behind_is_killed_by_the_next_start(tmp_path: Path) -> None:
    """Where the kernel cannot tie moto_server to its parent, the pid file lets the next start end it."""
    from faro_workloads.aws_resources import MotoServer

    pid_file = tmp_path / "s3-server.pid"
    left_behind = MotoServer(free_port(), log_path=tmp_path / "old.log", pid_file=pid_file)
    left_behind.start()  # and never stopped, as after a crash
    old = psutil.Process(int(pid_file.read_text()))
    successor = MotoServer(free_port(), log_path=tmp_path / "new.log", pid_file=pid_file)
    try:
        successor.start()
        assert not _running(old)
        assert int(pid_file.read_text()) != old.pid and _is_moto(psutil.Process(int(pid_file.read_text())))
    finally:
        successor.stop()
        left_behind.stop()
    assert not pid_file.exists()


def test_pgserver_forgets_users_that_are_gone_or_started_after_its_list(tmp_path: Path) -> None:
    from faro_workloads.embedded_postgres import CLOCK_SLACK_SECONDS, HANDLE_LIST, forget_crashed_users

    pgdata = tmp_path / "postgres"
    pgdata.mkdir()
    crashed = subprocess.Popen(["sleep", "0"])
    crashed.wait()
    written = psutil.Process().create_time()  # the list was last written when this process was young
    time.sleep(max(0.0, written + CLOCK_SLACK_SECONDS + 1 - time.time()))  # so that `newer` is clearly newer
    newer = subprocess.Popen(["sleep", "30"])  # as if it had got a listed pid after a crash
    handles = pgdata / HANDLE_LIST
    try:
        handles.write_text(json.dumps([os.getpid(), crashed.pid, newer.pid]))
        os.utime(handles, (written, written))
        assert sorted(forget_crashed_users(pgdata)) == sorted([crashed.pid, newer.pid])
        assert json.loads(handles.read_text()) == [os.getpid()]
        assert forget_crashed_users(pgdata) == []
    finally:
        newer.kill()
        newer.wait()
