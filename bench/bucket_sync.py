"""Benchmark: the bucket source's full sync in bounded memory, whatever the number of keys.

Faro side: ``faro sync --dry-run`` in a fresh process (as the CronJob runs it) over a source prefix of N keys
(default 100,000) in a local S3 server (moto, pre-populated: ``bench.moto_populated``), against a
collection whose documents table holds half of them in sync (same ETag) and N/100 orphans. Measured: the
process's peak RSS (``wait4``'s ``ru_maxrss``) and wall time, and that it counted the differences right.

Baseline, same run: the straightforward diff (``bench.naive_sync``: every key and every stored document
into dicts), also in a fresh process.

Both run at N/10 and at N keys. The claim is that Faro's memory does not grow with the keys:

    ratio = Faro peak RSS at N / Faro peak RSS at N/10        (target <= 1.15)

with the baseline's growth, and Faro's peak against the baseline's at N, reported beside it.

Run: ``python -m bench.bucket_sync [--keys 100000]``; ``--quick`` for a smoke run (2,000 keys).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from psycopg import sql
from psycopg.types.json import Jsonb

from bench.moto_populated import object_etag
from bench.report import BenchReport, Row
from bench.stores import BenchStores, bench_stores
from faro_workloads.aws_resources import use_local_credentials
from faro_workloads.background_server import free_port
from faro_workloads.contract.settings import CollectionConfig
from faro_workloads.core.stores.postgres.record_columns import RECORD_COLUMNS

TARGET = 1.15
BUCKET = "bench-source"
DIMENSION = 8
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    peak_rss_mb: float
    counts: dict[str, int]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.bucket_sync", description=__doc__)
    parser.add_argument("--keys", type=int, default=100_000, help="Keys of the large source prefix.")
    parser.add_argument("--quick", action="store_true", help="Smoke run: 2,000 keys.")
    args = parser.parse_args(argv)
    large = 2_000 if args.quick else args.keys
    sizes = {"small": large // 10, "large": large}
    use_local_credentials()
    with bench_stores(dimension=DIMENSION) as stores, _moto(sizes) as endpoint:
        runs: dict[tuple[str, str], Run] = {}
        for size, keys in sizes.items():
            collection = _collection(stores, size, keys)
            env = _environment(stores, collection, endpoint, size)
            for name, command in (
                ("faro", ["-m", "faro_workloads.cli", "sync", "--dry-run"]),
                ("naive", ["-m", "bench.naive_sync"]),
            ):
                print(f"{name} at {keys:,} keys ...", file=sys.stderr, flush=True)
                runs[(name, size)] = _measured(command, env)
                _check(runs[(name, size)], keys)
    report = _report(runs, sizes)
    report.print()
    return 0


def _moto(sizes: dict[str, int]):  # type: ignore[no-untyped-def]
    from contextlib import contextmanager

    @contextmanager
    def running():  # type: ignore[no-untyped-def]
        port = free_port()
        populations = [f"raw/{size}={keys}" for size, keys in sizes.items()]
        server = subprocess.Popen(
            [sys.executable, "-m", "bench.moto_populated", str(port), BUCKET, *populations],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        try:
            assert server.stdout is not None and server.stdout.readline().strip() == "ready"
            yield f"http://127.0.0.1:{port}"
        finally:
            server.kill()
            server.wait(timeout=30)

    return running()


def _collection(stores: BenchStores, size: str, keys: int) -> CollectionConfig:
    """A collection holding the first half of the prefix's keys in sync, and keys/100 orphans."""
    collection = stores.new_collection(f"sync_{size}")
    pg = stores.pg_store(collection)
    pg.ensure_schema()
    stored = [*range(keys // 2), *range(keys, keys + keys // 100)]
    at = datetime.now(UTC) - timedelta(hours=1)
    table = sql.Identifier("bench", f"{collection.name}_documents")
    with (
        stores.connect() as conn,
        conn.cursor().copy(sql.SQL("COPY {} ({}) FROM STDIN").format(table, sql.SQL(RECORD_COLUMNS))) as copy,
    ):
        for index in stored:
            doc_id = f"{index:07}.md"
            source = f"s3://{BUCKET}/raw/{size}/{doc_id}"
            copy.write_row((doc_id, "h", source, 1, Jsonb({}), at, "", object_etag(index)))
    return collection


def _environment(
    stores: BenchStores, collection: CollectionConfig, endpoint: str, size: str
) -> dict[str, str]:
    return {
        **os.environ,
        "FARO_POSTGRES__DSN": stores.dsn,
        "FARO_POSTGRES__SCHEMA_NAME": "bench",
        "FARO_COLLECTION__NAME": collection.name,
        "FARO_COLLECTION__DIMENSION": str(DIMENSION),
        "FARO_EMBEDDING__DIMENSION": str(DIMENSION),
        "FARO_S3__BUCKET": BUCKET,
        "FARO_S3__ENDPOINT_URL": endpoint,
        "FARO_SQS__QUEUE_URL": f"{endpoint}/123456789012/unused",  # a dry run sends nothing
        "FARO_SQS__ENDPOINT_URL": endpoint,
        "FARO_SOURCE_DOCUMENTS__PREFIX": f"raw/{size}",
        "FARO_CONSISTENCY__CENSUS_GRACE_SECONDS": "0",
        "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'tests'}",
    }


def _measured(command: list[str], env: dict[str, str]) -> Run:
    """Run ``python COMMAND`` in a fresh process; its wall time, peak RSS and the counts it printed."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, *command], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=REPO
    )
    assert process.stdout is not None
    out = process.stdout.read()
    _, _, usage = os.wait4(process.pid, 0)
    seconds = time.monotonic() - started
    process.returncode = 0  # reaped by wait4
    document = json.loads(out.splitlines()[-1])
    counts = {key: int(document[key]) for key in ("acknowledged", "missing_in_postgres", "orphans")}
    return Run(seconds, usage.ru_maxrss / 1024, counts)


def _check(run: Run, keys: int) -> None:
    expected = {"acknowledged": keys, "missing_in_postgres": keys - keys // 2, "orphans": keys // 100}
    if run.counts != expected:
        raise SystemExit(f"wrong counts: {run.counts}, expected {expected}")


def _report(runs: dict[tuple[str, str], Run], sizes: dict[str, int]) -> BenchReport:
    rows = [
        Row(
            f"{name} at {sizes[size]:,} keys",
            {"peak RSS MB": round(run.peak_rss_mb, 1), "seconds": round(run.seconds, 2)},
        )
        for (name, size), run in runs.items()
    ]
    faro_growth = runs[("faro", "large")].peak_rss_mb / runs[("faro", "small")].peak_rss_mb
    naive_growth = runs[("naive", "large")].peak_rss_mb / runs[("naive", "small")].peak_rss_mb
    return BenchReport(
        name="bucket_sync",
        ratio=faro_growth,
        target=TARGET,
        rows=rows,
        parameters={"keys": sizes["large"], "small_keys": sizes["small"]},
        extra={
            "baseline_growth": round(naive_growth, 3),
            "faro_vs_baseline_rss_at_large": round(
                runs[("faro", "large")].peak_rss_mb / runs[("naive", "large")].peak_rss_mb, 3
            ),
        },
        higher_is_better=False,
    )


if __name__ == "__main__":
    sys.exit(main())
