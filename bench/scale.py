"""Benchmark: embedding engines scaling out on one queue (`faro serve embedder` x 1, 2 and 4 processes).

Set-up (not timed): PostgreSQL + pgvector (pgserver), S3 + SQS (moto_server), a model endpoint that answers
each embeddings request after a fixed latency (``--latency-ms``, 50 by default: a remote model, so replicas
have waiting to overlap), and one Qdrant collection reached over Qdrant's REST routes (local mode served by
``tests/support/qdrant_rest.py``, since local mode cannot be shared by processes). For each process count, a
fresh collection, bucket and queue; the documents' chunk objects are written to S3 first; the engines are
started and ready (health answering) before the clock starts.

Timed: the S3 event messages for every document are sent to the queue; the clock stops when PostgreSQL
holds every document (each acknowledged only after its transaction committed). Then the queue is checked
empty and Qdrant complete (not timed).

    ratio = chunks/s with 4 processes / chunks/s with 1 process        (target >= 3)
    2 processes / 1 process is reported beside it                      (target >= 1.7)

A last run, 4 processes against a model with no latency, shows the ceiling of the rest of the path on this
machine (PostgreSQL, S3/SQS, Qdrant, the engines' own CPU): when the 4-process run comes near it, that
ceiling binds, not the replicas.

Run: ``python -m bench.scale [--documents 240] [--chunks-per-doc 16] [--batch-size 4] [--latency-ms 50]
[--concurrency 1]``; ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from qdrant_client import QdrantClient

from bench.report import BenchReport, Row
from bench.stores import BenchStores, bench_stores
from faro_workloads.aws_resources import MotoServer, queue_depth, s3_client, sqs_client, use_local_credentials
from faro_workloads.background_server import free_port
from faro_workloads.contract.settings import (
    CollectionConfig,
    EmbeddingConfig,
    FaroSettings,
    QdrantConfig,
    S3Config,
    SQSConfig,
)
from faro_workloads.core.chunk_objects import ChunkObject, ChunkObjectLayout
from faro_workloads.core.documents import ChunkSpan
from faro_workloads.core.stores.qdrant import QdrantStore
from faro_workloads.core.stores.s3_chunks import S3ChunkStore
from faro_workloads.s3_events import object_created_notification

from support.model_servers import FixedLatencyModelServer
from support.qdrant_rest import serving_qdrant_rest
from support.service_processes import service_environment

TARGET_FOUR, TARGET_TWO = 3.0, 1.7
DIMENSION = 64
MODEL = "fixed-latency-64"
PIPELINE = "scale"
KEYS_PER_MESSAGE = 1  # as S3 sends them: one object per event message


@dataclass(frozen=True)
class Setting:
    processes: int
    latency_ms: float


@dataclass(frozen=True)
class Outcome:
    seconds: float
    chunks: int

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds


class Rig:
    """The running parts every measured run shares."""

    def __init__(self, stores: BenchStores, moto_url: str, qdrant_url: str, args: argparse.Namespace) -> None:
        self.stores, self.moto_url, self.qdrant_url, self.args = stores, moto_url, qdrant_url, args
        self.logs = Path(tempfile.mkdtemp(prefix="faro-bench-scale-", dir="/tmp"))

    def run(self, setting: Setting, model_url: str) -> Outcome:
        name = f"s{uuid.uuid4().hex[:8]}"
        collection = CollectionConfig(name=f"scale_{name}", dimension=DIMENSION)
        s3_config = S3Config(bucket=f"chunks-{name}", prefix="faro", endpoint_url=self.moto_url)
        sqs_config = SQSConfig(queue_url="pending", endpoint_url=self.moto_url)
        s3, sqs = s3_client(s3_config), sqs_client(sqs_config)
        s3.create_bucket(Bucket=s3_config.bucket)
        queue_url = sqs.create_queue(QueueName=f"events-{name}")["QueueUrl"]
        keys = self._write_chunk_objects(s3, s3_config.bucket)
        pg = self.stores.pg_store(collection)
        env = self._engine_env(collection, s3_config, queue_url, model_url)
        with engines(setting.processes, env, self.logs / name):
            started = time.perf_counter()
            _send_events(sqs, queue_url, s3_config.bucket, keys)
            while pg.document_count() < len(keys):
                time.sleep(0.02)
            seconds = time.perf_counter() - started
            chunks = pg.count()
            if chunks != len(keys) * self.args.chunks_per_doc:
                raise RuntimeError(
                    f"PostgreSQL holds {chunks} chunks of {len(keys) * self.args.chunks_per_doc}"
                )
            _wait(
                lambda: queue_depth(sqs, queue_url) == 0 and pg.outbox_pending() == 0, "the queue and outbox"
            )
        qdrant = QdrantStore(QdrantConfig(url=self.qdrant_url), collection)
        try:
            if qdrant.count() != chunks:
                raise RuntimeError(f"Qdrant holds {qdrant.count()} of {chunks} points")
        finally:
            qdrant.close()
        self.stores.close(pg)
        return Outcome(seconds, chunks)

    def _write_chunk_objects(self, s3: object, bucket: str) -> list[str]:
        store = S3ChunkStore(s3, bucket, ChunkObjectLayout("faro", PIPELINE))
        keys = []
        for number in range(self.args.documents):
            spans = [
                ChunkSpan(f"Document {number} chunk {seq}: engines share one queue and scale out.", 0, 10)
                for seq in range(self.args.chunks_per_doc)
            ]
            doc_id = f"doc-{number:05d}"
            store.put_document(ChunkObject(PIPELINE, doc_id, f"hash-{doc_id}", "bench", {}, spans))
            keys.append(store.layout.document_key(doc_id))
        return keys

    def _engine_env(
        self, collection: CollectionConfig, s3: S3Config, queue_url: str, model_url: str
    ) -> dict[str, str]:
        settings = FaroSettings(
            pipeline=PIPELINE,
            s3=s3,
            sqs=SQSConfig(
                queue_url=queue_url,
                endpoint_url=self.moto_url,
                wait_seconds=1,
                concurrency=self.args.concurrency,
            ),
            postgres=self.stores.postgres_config,
            collection=collection,
            qdrant=QdrantConfig(url=self.qdrant_url),
            embedding=EmbeddingConfig(
                kind="portkey",
                gateway_url=model_url,
                model=MODEL,
                dimension=DIMENSION,
                batch_size=self.args.batch_size,
                api_key="local",
            ),
        )
        return service_environment(settings)


@contextlib.contextmanager
def engines(count: int, env: dict[str, str], log_prefix: Path) -> Iterator[None]:
    """``count`` embedding engines, each answering its health check, stopped with SIGTERM after."""
    processes: list[subprocess.Popen[bytes]] = []
    try:
        urls = []
        for n in range(count):
            port = free_port()
            log = open(f"{log_prefix}-{n}.log", "ab")  # noqa: SIM115 - the child writes it until it exits
            command = [sys.executable, "-m", "faro_workloads.cli", "serve", "embedder", "--port", str(port)]
            processes.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
            urls.append(f"http://127.0.0.1:{port}/healthz")
        for url, process in zip(urls, processes, strict=True):
            _wait(lambda url=url, process=process: _answers(url, process), f"an engine at {url}", timeout=120)
        yield
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


def _answers(url: str, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"an embedding engine exited with {process.returncode} (see its log)")
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _send_events(sqs: object, queue_url: str, bucket: str, keys: Sequence[str]) -> None:
    bodies = [object_created_notification(bucket, [key]) for key in keys]
    for start in range(0, len(bodies), 10):
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies[start : start + 10])]
        sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)  # type: ignore[attr-defined]


def _wait(predicate, what: str, timeout: float = 300) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.scale", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=240, help="Documents per run.")
    parser.add_argument("--chunks-per-doc", type=int, default=16)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=4,
        help="Texts per embeddings request (few: the model's latency, not this machine's CPU, is the cost).",
    )
    parser.add_argument("--latency-ms", type=float, default=50.0, help="The model's latency per request.")
    parser.add_argument("--concurrency", type=int, default=1, help="Messages each engine handles at once.")
    parser.add_argument("--processes", default="1,2,4", help="Engine counts to measure (1 and 4 needed).")
    parser.add_argument("--quick", action="store_true", help="Smoke run: 24 documents.")
    args = parser.parse_args(argv)
    if args.quick:
        args.documents = 24
    args.processes = sorted({int(n) for n in args.processes.split(",")} | {1})
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    use_local_credentials()
    moto = MotoServer(free_port())
    moto.start()
    try:
        with (
            bench_stores(dimension=DIMENSION) as stores,
            serving_qdrant_rest(QdrantClient(location=":memory:")) as (qdrant_url, _),
            FixedLatencyModelServer(DIMENSION, MODEL, args.latency_ms / 1000) as slow_model,
            FixedLatencyModelServer(DIMENSION, MODEL, 0.0) as instant_model,
        ):
            rig = Rig(stores, moto.url, qdrant_url, args)
            outcomes: dict[Setting, Outcome] = {}
            settings = [Setting(n, args.latency_ms) for n in args.processes]
            settings.append(Setting(max(args.processes), 0.0))
            try:
                for setting in settings:
                    model_url = (slow_model if setting.latency_ms else instant_model).url
                    outcomes[setting] = rig.run(setting, model_url)
                    print(f"{setting}: {outcomes[setting].chunks_per_second:.0f} chunks/s", file=sys.stderr)
            except BaseException:
                print(f"the engines' logs are kept in {rig.logs}", file=sys.stderr)
                raise
            shutil.rmtree(rig.logs, ignore_errors=True)  # every run went through: nothing to look into
    finally:
        moto.stop()
    report(args, outcomes).print()


def report(args: argparse.Namespace, outcomes: dict[Setting, Outcome]) -> BenchReport:
    one = outcomes[Setting(1, args.latency_ms)].chunks_per_second
    rows = []
    for setting, outcome in outcomes.items():
        label = f"{setting.processes} process" + ("es" if setting.processes > 1 else "")
        if not setting.latency_ms:
            label += ", model 0 ms (ceiling of the rest)"
        rows.append(
            Row(
                label,
                {
                    "chunks/s": round(outcome.chunks_per_second, 1),
                    "seconds": round(outcome.seconds, 2),
                    "vs 1 process": round(outcome.chunks_per_second / one, 2) if setting.latency_ms else "-",
                },
            )
        )
    most = max(args.processes)
    ratio = outcomes[Setting(most, args.latency_ms)].chunks_per_second / one
    two = outcomes.get(Setting(2, args.latency_ms))
    ceiling = outcomes[Setting(most, 0.0)].chunks_per_second
    return BenchReport(
        name="scale",
        ratio=ratio,
        target=TARGET_FOUR if most == 4 else None,
        rows=rows,
        parameters={
            "documents": args.documents,
            "chunks_per_doc": args.chunks_per_doc,
            "batch_size": args.batch_size,
            "latency_ms": args.latency_ms,
            "concurrency": args.concurrency,
            "processes": args.processes,
        },
        extra={
            "two_process_ratio": round(two.chunks_per_second / one, 3) if two else None,
            "two_process_target": TARGET_TWO,
            "ceiling_chunks_per_s": round(ceiling, 1),
            "ceiling_share": round(outcomes[Setting(most, args.latency_ms)].chunks_per_second / ceiling, 3),
        },
    )


if __name__ == "__main__":
    main()
