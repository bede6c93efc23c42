"""`faro local` as a user runs it: a subprocess serving HTTP, keeping its data across restarts."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from faro_workloads.background_server import free_port

from support.faro_process import faro_process
from support.polling import wait_for

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DOCS = REPO / "examples" / "docs"


def faro(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "faro_workloads.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def running_local(data_dir: Path, *extra: str) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = data_dir.parent / f"faro-local-{port}.log"
    args = ("local", "--data-dir", str(data_dir), "--port", str(port), *extra)
    with faro_process(*args, log=log, ready_url=f"{url}/readyz"):
        yield url
    # A clean stop also stops the embedded PostgreSQL (it removes postmaster.pid on shutdown).
    assert not (data_dir / "postgres" / "postmaster.pid").exists(), "faro local left PostgreSQL running"


def _top_hit(url: str, query: str) -> dict:
    answer = httpx.post(f"{url}/v1/query", json={"query": query, "top_k": 3}, timeout=30).json()
    assert answer["backend"] == "qdrant", answer
    return answer["hits"][0]


def test_local_mode_serves_queries_and_keeps_its_data_across_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_local(data_dir, "--docs", str(EXAMPLE_DOCS)) as url:
        documents = httpx.get(f"{url}/v1/documents").json()["documents"]
        assert {d["doc_id"] for d in documents} == {p.name for p in EXAMPLE_DOCS.iterdir()}
        first = _top_hit(url, "outbox keeps pending work when qdrant is down")
        assert first["doc_id"] == "dual-write.md"

        cli = faro("query", "circuit breaker opens after consecutive qdrant failures", "--url", url, "--json")
        assert cli.returncode == 0, cli.stderr
        assert '"doc_id": "querying.html"' in cli.stdout

        extra = tmp_path / "notes.md"
        extra.write_text("# Notes\n\nThe zebra migration runbook lives here.\n")
        uploaded = faro("ingest", str(extra), "--url", url)
        assert uploaded.returncode == 0, uploaded.stderr
        assert "1 created" in uploaded.stdout
        (tmp_path / "again").mkdir()
        (tmp_path / "again" / "notes.md").write_text("# Other notes\n\nNot these.\n")
        twice = faro("ingest", str(extra), str(tmp_path / "again" / "notes.md"), "--url", url)
        assert twice.returncode == 1 and "1 unchanged" in twice.stdout and "1 failed" in twice.stdout
        assert f"notes.md: document 'notes.md' given twice (also {extra})" in " ".join(twice.stderr.split())

        with socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), timeout=30) as stalled:
            stalled.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
            assert stalled.recv(64).startswith(b"HTTP/1.1 408 ")  # cut off after 10 s, as in the cluster

    shutil.rmtree(data_dir / "qdrant")  # Qdrant wiped while stopped: rebuilt from Postgres at start
    with running_local(data_dir) as url:  # no --docs: everything must still be there
        documents = httpx.get(f"{url}/v1/documents").json()["documents"]
        assert len(documents) == len(list(EXAMPLE_DOCS.iterdir())) + 1
        again = _top_hit(url, "outbox keeps pending work when qdrant is down")
        assert again["id"] == first["id"] and again["score"] == pytest.approx(first["score"], rel=1e-5)
        assert _top_hit(url, "zebra migration runbook")["doc_id"] == "notes.md"
        assert httpx.get(f"{url}/readyz").json()["checks"] == {"postgres": True, "qdrant": True}
    assert (data_dir / "qdrant" / "edge").is_dir()  # Qdrant Edge, the default engine

    # Switching engines rebuilds Qdrant from PostgreSQL; the other engine's copy is removed, so that a
    # switch back cannot serve it (notes.md is deleted on the Python engine, then must be gone on Edge).
    with running_local(data_dir, "--qdrant-engine", "python") as url:
        assert not (data_dir / "qdrant" / "edge").exists() and (data_dir / "qdrant" / "meta.json").exists()
        assert _top_hit(url, "outbox keeps pending work when qdrant is down")["id"] == first["id"]
        assert httpx.delete(f"{url}/v1/documents/notes.md", timeout=30).status_code == 204
    with running_local(data_dir) as url:
        assert not (data_dir / "qdrant" / "meta.json").exists()
        assert _top_hit(url, "zebra migration runbook")["doc_id"] != "notes.md"
        assert _top_hit(url, "outbox keeps pending work when qdrant is down")["id"] == first["id"]


def test_a_data_dir_refuses_a_model_of_another_dimension_with_one_readable_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = faro(
        "local", "--data-dir", str(data_dir), "--no-serve", "--docs", str(EXAMPLE_DOCS / "overview.md")
    )
    assert first.returncode == 0, first.stderr
    other = faro(
        "local",
        "--data-dir",
        str(data_dir),
        "--no-serve",
        "--embedder",
        "portkey",
        "--gateway-url",
        "http://127.0.0.1:9/v1",
        "--model",
        "text-embedding-3-small",
        "--dimension",
        "1536",
    )
    assert other.returncode == 2  # the configuration does not fit the data folder
    lines = other.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("faro: ") and "holds 384-d vectors" in lines[0]


def test_a_chunking_change_reindexes_the_folder_and_going_back_rolls_back(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = faro("local", "--data-dir", str(data_dir), "--no-serve", "--docs", str(EXAMPLE_DOCS))
    assert first.returncode == 0, first.stderr

    smaller = faro(
        "local", "--data-dir", str(data_dir), "--no-serve", "--chunk-size", "64", "--chunk-overlap", "8"
    )
    assert smaller.returncode == 0, smaller.stderr
    assert "generation 2 is live" in smaller.stdout

    back = faro("local", "--data-dir", str(data_dir), "--no-serve")
    assert back.returncode == 0, back.stderr
    assert "rolled back: generation 1 is live" in back.stdout

    same = faro("local", "--data-dir", str(data_dir), "--no-serve")
    assert same.returncode == 0 and "generation" not in same.stdout  # nothing to do


def test_golden_queries_gate_a_reindex_and_a_broken_file_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    assert (
        faro("local", "--data-dir", str(data_dir), "--no-serve", "--docs", str(EXAMPLE_DOCS)).returncode == 0
    )
    golden = tmp_path / "golden.yaml"
    golden.write_text("queries:\n  - query: the transactional outbox\n    docIds: dual-write.md\n")
    smaller = ("--chunk-size", "64", "--chunk-overlap", "8", "--recall-k", "3")

    broken = faro(
        "local", "--data-dir", str(data_dir), "--no-serve", *smaller, "--golden-queries", str(golden)
    )

    assert broken.returncode == 2, broken.stderr
    assert (
        broken.stderr.strip()
        == f"faro: golden queries {golden}: queries.0.docIds: Input should be a valid list"
    )
    assert "generation" not in broken.stdout  # no reindex started

    golden.write_text(
        "queries:\n"
        "  - query: the transactional outbox between PostgreSQL and Qdrant\n"
        "    docIds: [dual-write.md]\n"
        "  - query: how the consistency check compares the two stores\n"
        "    docIds: [consistency.md]\n"
    )
    fixed = faro(
        "local", "--data-dir", str(data_dir), "--no-serve", *smaller, "--golden-queries", str(golden)
    )
    assert fixed.returncode == 0, fixed.stderr
    assert "generation 2 is live" in fixed.stdout


def test_a_manual_cutover_serves_the_live_generation_until_approved_with_faro_generations(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    assert (
        faro("local", "--data-dir", str(data_dir), "--no-serve", "--docs", str(EXAMPLE_DOCS)).returncode == 0
    )
    smaller = ("--chunk-size", "64", "--chunk-overlap", "8", "--cutover", "manual")
    with running_local(data_dir, *smaller) as url:

        def status() -> dict:
            listed = faro("generations", "--url", url, "--json")
            assert listed.returncode == 0, listed.stderr
            return json.loads(listed.stdout)

        blocked = wait_for(lambda: (s := status())["blocked"] and s, timeout=90, what="the gate to wait")
        assert blocked["live"] == 1 and blocked["blocked"]["reason"] == "AwaitingApproval"
        building = blocked["generations"][1]
        assert (building["state"], building["done"]) == ("Building", building["documents"])
        body = {"query": "outbox", "top_k": 3, "max_per_document": 0}  # two documents: several chunks of one
        answer = httpx.post(f"{url}/v1/query", json=body, timeout=30).json()
        assert answer["generation"] == 1  # the live one answers until the cutover

        table = faro("generations", "--url", url)
        assert table.returncode == 0 and "AwaitingApproval" in table.stdout and "Building" in table.stdout
        followed = faro("reindex", "--url", url, "--interval", "0.2")
        assert followed.returncode == 0, followed.stderr
        assert "waits for approval: faro generations promote 2" in followed.stdout
        nothing_retired = faro("generations", "--url", url, "rollback")
        assert nothing_retired.returncode == 2 and "no retired generation" in nothing_retired.stderr
        wrong = faro("generations", "--url", url, "approve", "1")
        assert wrong.returncode == 2 and "is Live, not Building" in wrong.stderr
        approved = faro("generations", "--url", url, "promote", "2")
        assert approved.returncode == 0, approved.stderr
        assert "generation 2 approved: it goes live at the next cutover check" in " ".join(
            approved.stdout.split()
        )

        live = wait_for(lambda: status()["live"] == 2, timeout=60, what="the cutover after approval")
        assert live
        body = {"query": "outbox", "top_k": 3, "max_per_document": 0}  # two documents: several chunks of one
        answer = httpx.post(f"{url}/v1/query", json=body, timeout=30).json()
        assert answer["generation"] == 2 and len(answer["hits"]) == 3
        back = faro("generations", "--url", url, "rollback")
        assert back.returncode == 2  # the flags are the profile: the line says which to restart with
        assert "--embedder hash --strategy markdown --chunk-size 250 --chunk-overlap 32" in back.stderr


def test_a_manual_cutover_without_serving_is_approved_with_faro_local_approve(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    assert faro("local", "--data-dir", data_dir, "--no-serve", "--docs", str(EXAMPLE_DOCS)).returncode == 0
    smaller = ("--chunk-size", "64", "--chunk-overlap", "8", "--cutover", "manual", "--no-serve")

    blocked = faro("local", "--data-dir", data_dir, *smaller)
    assert blocked.returncode == 1 and "cutover blocked (AwaitingApproval)" in blocked.stderr
    assert "run faro local again with --approve 2" in " ".join(blocked.stderr.split())
    unknown = faro("local", "--data-dir", data_dir, *smaller, "--approve", "9")
    assert (unknown.returncode, unknown.stderr.strip()) == (2, "error: generation 9 does not exist")
    # Qdrant wiped while stopped: every generation is rebuilt from PostgreSQL at start, the building one
    # too (else the gate would find its stores disagreeing).
    shutil.rmtree(tmp_path / "data" / "qdrant")
    approved = faro("local", "--data-dir", data_dir, *smaller, "--approve", "2")
    assert approved.returncode == 0, approved.stderr
    assert "generation 2 approved" in approved.stdout and "generation 2 is live" in approved.stdout


def test_cli_errors_are_one_line_with_a_nonzero_exit(tmp_path: Path) -> None:
    unreachable = faro("query", "anything", "--url", f"http://127.0.0.1:{free_port()}")
    assert unreachable.returncode == 3  # a dependency (the API) is unavailable
    assert unreachable.stderr.strip().startswith("faro: cannot reach the API")
    assert "Traceback" not in unreachable.stderr

    missing = faro("ingest", str(tmp_path / "nope.md"))
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr and "Traceback" not in missing.stderr

    bad_flag = faro("local", "--chunk-size", "3")
    assert bad_flag.returncode == 2 and "Traceback" not in bad_flag.stderr

    local_change = faro("reindex", "--model", "other")  # a model change needs a pipeline to set it on
    assert local_change.returncode == 2 and "restart `faro local` with the new flags" in local_change.stderr

    no_cluster = subprocess.run(
        [sys.executable, "-m", "faro_workloads.cli", "generations", "--pipeline", "docs"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "KUBECONFIG": str(tmp_path / "no-kubeconfig")},
    )
    assert no_cluster.returncode == 2 and no_cluster.stderr.startswith(
        "faro: no Kubernetes credentials"
    )  # this side to set up: 2
    assert len(no_cluster.stderr.strip().splitlines()) == 1


def test_local_mode_with_a_keys_file_lets_in_only_its_keys(tmp_path: Path) -> None:
    """``faro local --keys-file``: the keys ``faro keys new`` made, each with its scope; nothing without."""
    keys = tmp_path / "keys.json"
    writer = faro("keys", "new", "--name", "me", "--scope", "write", "--file", str(keys)).stdout.strip()
    reader = faro("keys", "new", "--name", "ui", "--scope", "query", "--file", str(keys)).stdout.strip()
    note = tmp_path / "note.md"
    note.write_text("# Note\n\nThe heron inventory is counted on Fridays.\n")
    with running_local(tmp_path / "data", "--keys-file", str(keys)) as url:
        assert httpx.get(f"{url}/v1/documents").status_code == 401
        assert httpx.get(f"{url}/readyz").status_code == 200  # health stays open
        refused = faro("ingest", str(note), "--url", url, "--api-key", reader)  # its scope: query only
        assert refused.returncode == 2 and refused.stderr.strip().splitlines()[-1].startswith(
            "faro: HTTP 403"
        )
        assert faro("ingest", str(note), "--url", url, "--api-key", writer).returncode == 0
        answer = faro("query", "heron inventory", "--url", url, "--api-key", reader, "--json")
        assert answer.returncode == 0 and '"doc_id": "note.md"' in answer.stdout


def test_local_mode_s3_path_goes_through_s3_sqs_and_the_embedding_worker(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_local(data_dir, "--s3", "--docs", str(EXAMPLE_DOCS)) as url:
        expected = {p.name for p in EXAMPLE_DOCS.iterdir()}
        listed = {d["doc_id"] for d in httpx.get(f"{url}/v1/documents").json()["documents"]}
        assert listed == expected  # chunk objects in the local S3 server

        def top_doc() -> str | None:
            hits = httpx.post(f"{url}/v1/query", json={"query": "outbox keeps pending work"}).json()["hits"]
            return hits[0]["doc_id"] if hits else None

        deadline = time.monotonic() + 60
        while top_doc() != "dual-write.md":  # the worker embeds asynchronously
            assert time.monotonic() < deadline, "documents never reached the stores"
            time.sleep(0.2)
        upload = httpx.post(f"{url}/v1/documents", json={"doc_id": "zebra", "text": "Zebra runbook notes."})
        assert upload.status_code == 202 and upload.json()["status"] == "accepted"
        assert httpx.delete(f"{url}/v1/documents/dual-write.md").status_code == 202

        def gone() -> bool:
            hits = httpx.post(
                f"{url}/v1/query", json={"query": "outbox keeps pending work", "top_k": 10}
            ).json()
            return all(hit["doc_id"] != "dual-write.md" for hit in hits["hits"])

        deadline = time.monotonic() + 60
        while not gone() or top_doc() is None:
            assert time.monotonic() < deadline, "delete never reached the stores"
            time.sleep(0.2)
        zebra = httpx.post(f"{url}/v1/query", json={"query": "zebra runbook"}).json()["hits"][0]
        assert zebra["doc_id"] == "zebra"

        notes = tmp_path / "notes.md"
        notes.write_text("# Notes\n\nThe yak shaving guide for the release train.\n")
        waited = faro("ingest", str(notes), "--url", url, "--wait", "--timeout", "60", timeout=90)
        assert waited.returncode == 0, waited.stderr
        assert "1 accepted" in waited.stdout and "1 searchable" in waited.stdout
        yak = httpx.post(f"{url}/v1/query", json={"query": "yak shaving guide"}).json()["hits"][0]
        assert yak["doc_id"] == "notes.md"  # searchable when --wait returned, not some time later
        states = faro("status", "notes.md", "dual-write.md", "never-uploaded", "--url", url, "--json")
        assert states.returncode == 1, states.stderr  # one the API has never heard of
        rows = [json.loads(line) for line in states.stdout.splitlines()]
        assert [(row["doc_id"], row["state"]) for row in rows] == [
            ("notes.md", "searchable"),
            ("dual-write.md", "deleted"),
            ("never-uploaded", "unknown"),
        ]
        table = faro("status", "notes.md", "--url", url)
        assert table.returncode == 0 and "searchable" in table.stdout, table.stderr
        ready = httpx.get(f"{url}/readyz").json()
        assert ready["checks"] == {"postgres": True, "qdrant": True, "s3": True}


def test_no_serve_exits_1_when_a_file_was_not_stored_and_a_file_over_the_upload_limit_is_not(
    tmp_path: Path,
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "fine.md").write_text("# Fine\n\nA short note.\n")
    (docs / "huge.txt").write_text("word " * (2 * 1024 * 1024 + 1))  # just over 10 MiB
    ran = faro("local", "--data-dir", str(tmp_path / "data"), "--no-serve", "--docs", str(docs))
    assert ran.returncode == 1, ran.stderr
    assert "1 created" in ran.stdout and "1 failed" in ran.stdout
    assert "huge.txt: larger than the upload limit (10 MiB)" in " ".join(ran.stderr.split())


def test_folder_ingest_batches_files_and_reports_each_bad_one(tmp_path: Path) -> None:
    """Bad files (unreadable, empty once extracted) get one line each; the others are stored."""
    from faro_workloads.services.local import LocalOptions, build

    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(30):
        (docs / f"note-{n:02d}.md").write_text(f"# Note {n}\n\nThe zebra count for week {n} was {n * 3}.\n")
    (docs / "blank.txt").write_text("  \n\t\n")
    (docs / "empty.html").write_text("<html><body><script>x()</script></body></html>")
    (docs / "broken.md").write_bytes(b"\xff\xfe\x00 not utf-8 \x80")
    clash = tmp_path / "other"  # a second folder whose file gets an id already taken: not overwritten
    clash.mkdir()
    (clash / "note-07.md").write_text("# Another note\n\nSame id, other content.\n")
    with build(LocalOptions(data_dir=tmp_path / "data")) as runtime:
        first = runtime.ingest_folder([docs, clash], show_progress=False)
        again = runtime.ingest_folder([docs], show_progress=False)
        assert runtime.plane is not None
        assert runtime.plane.pg.document_count() == 30
        assert runtime.plane.pg.get_document("note-07.md").source == f"file:{docs / 'note-07.md'}"
    assert (first.created, first.unchanged) == (30, 0)
    assert (again.created, again.unchanged) == (0, 30)
    reasons = dict(first.failed)
    assert sorted(reasons) == ["blank.txt", "broken.md", "empty.html", "note-07.md"]
    assert "given twice" in reasons["note-07.md"]
    assert all(reason and "\n" not in reason for reason in reasons.values())
