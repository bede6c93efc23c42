"""The liveness prober of ``bench.upload_liveness``: a process of its own that sends ``GET /healthz`` on one
keep-alive connection at a fixed interval and records each answer's latency, so the service's event loop
is measured from outside while it takes pathological uploads (a prober in the service's process would
share its interpreter lock).

    python -m bench.healthz_prober URL [--interval S]

prints ``ready`` once connected, probes until its stdin reaches EOF, then prints the samples — (sent at,
latency s), ``time.perf_counter`` (CLOCK_MONOTONIC, comparable with the parent's) — as one JSON list.
:func:`prober` runs it from the benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from urllib.parse import urlsplit

from bench.loadgen import read_response

PROBE_TIMEOUT_S = 60.0


async def _probe(url: str, interval: float, stop: asyncio.Event) -> list[tuple[float, float]]:
    """(sent at, latency s) of ``GET /healthz`` requests on one keep-alive connection, one at a time, each
    at the next slot of an ``interval`` grid not yet past, from just after connecting until ``stop``."""
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    request = f"GET /healthz HTTP/1.1\r\nHost: {parts.netloc}\r\n\r\n".encode()
    print("ready", flush=True)
    samples: list[tuple[float, float]] = []
    grid = time.perf_counter() + interval
    slot = 0
    try:
        while True:
            if (wait := grid + slot * interval - time.perf_counter()) > 0:
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), wait)
            if stop.is_set():
                break
            sent = time.perf_counter()
            writer.write(request)
            status, body = await asyncio.wait_for(read_response(reader), PROBE_TIMEOUT_S)
            answered = time.perf_counter()
            if status != 200:
                raise RuntimeError(f"/healthz answered {status}: {body[:200]!r}")
            samples.append((sent, answered - sent))
            slot = max(slot + 1, math.ceil((answered - grid) / interval))
    finally:
        writer.close()
        await writer.wait_closed()
    return samples


def probe_main(url: str, interval: float) -> None:
    """Probe until stdin reaches EOF, then print the samples as one JSON list."""

    async def run() -> list[tuple[float, float]]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def wait_for_eof() -> None:
            sys.stdin.read()
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=wait_for_eof, name="stdin-eof", daemon=True).start()
        return await _probe(url, interval, stop)

    samples = asyncio.run(run())
    print(json.dumps(samples), flush=True)


@contextmanager
def prober(url: str, interval: float) -> Iterator[Callable[[], list[tuple[float, float]]]]:
    """Starts the prober process; yields a function that stops it and returns its samples."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.healthz_prober", url, "--interval", str(interval)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        if process.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the prober did not start: {process.stderr.read()[-2000:]}")

        def stop() -> list[tuple[float, float]]:
            out, err = process.communicate(input="", timeout=PROBE_TIMEOUT_S + 30)
            if process.returncode != 0:
                raise RuntimeError(f"the prober failed: {err[-2000:]}")
            return [(sent, latency) for sent, latency in json.loads(out.strip().splitlines()[-1])]

        yield stop
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench.healthz_prober", description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="The service's base URL.")
    parser.add_argument("--interval", type=float, default=0.02, help="Seconds between probes.")
    args = parser.parse_args(argv)
    probe_main(args.url, args.interval)


if __name__ == "__main__":
    main()
