"""HTTP load for the query benchmark, run as its own process (so it does not share the server's interpreter
lock): ``concurrency`` clients, each on its own keep-alive connection, sending ``POST /v1/query`` either in a
closed loop (the next request as soon as the previous answer arrives) or in an open loop at a fixed total
rate (``"rate"`` in the job, requests/s). Reads a JSON job on stdin, writes the latencies (seconds) on
stdout.

The client is a minimal HTTP/1.1 writer/reader over asyncio streams (requests encoded before the clock
starts, ``Content-Length`` responses only), not httpx: the load generator shares the 2 CPUs with the
server, and httpx spends ~1-2 ms of CPU per request, which would be counted as the service's latency and
steal the server's CPU. Every answer is still checked: status 200, and answered by the backend asked for.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any
from urllib.parse import urlsplit


class ResponseError(RuntimeError):
    """The service answered something other than a 200 from the backend asked for."""


def encode_request(host: str, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    head = (
        f"POST /v1/query HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one ``Content-Length`` response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = next(
        int(value)
        for name, _, value in (line.partition(":") for line in lines[1:])
        if name.lower() == "content-length"
    )
    return status, await reader.readexactly(length)


def due_times(count: int, rate: float | None) -> list[float]:
    """When each of ``count`` requests is due (``time.perf_counter`` seconds): request ``j`` at ``j / rate``
    s from just ahead of now; all 0 (each as soon as the previous one is answered) without a rate."""
    start = time.perf_counter() + 0.05
    return [start + j / rate if rate else 0.0 for j in range(count)]


def latency_start(due: float, answered_at: float) -> float:
    """Where the latency of a request being sent now counts from, given when it was due and when the previous
    answer on its connection came (0: none yet).

    When that answer came after the request was due, from when it was due (the wait is the service's doing:
    no coordinated omission); otherwise from now (the client's own timer overshoot is not the service's).
    The in-process baseline of :mod:`bench.query` counts the same way."""
    return due if 0 < due < answered_at else time.perf_counter()


async def _client(
    host: str, port: int, schedule: list[tuple[float, bytes]], backend: str, out: list[float]
) -> None:
    """Send this client's requests in order, each at its time (0: as soon as the previous one is answered),
    latencies counted as :func:`latency_start` says."""
    reader, writer = await asyncio.open_connection(host, port)
    answered_at = 0.0
    try:
        for due, request in schedule:
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            started = latency_start(due, answered_at)
            writer.write(request)
            status, body = await read_response(reader)
            answered_at = time.perf_counter()
            elapsed = answered_at - started
            if status != 200:
                raise ResponseError(f"status {status}: {body[:500]!r}")
            answered = json.loads(body)["backend"]
            if answered != backend:
                raise ResponseError(f"asked for {backend}, answered by {answered}")
            out.append(elapsed)
    finally:
        writer.close()
        await writer.wait_closed()


async def run(
    url: str, requests: list[bytes], concurrency: int, backend: str, rate: float | None = None
) -> list[float]:
    """Latencies (s) of ``requests`` sent by ``concurrency`` clients: closed loop (each sends its next
    request when the previous one is answered), or open loop at ``rate`` requests/s in all (request ``j``
    due at ``j / rate`` s, sent by client ``j % concurrency``)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    due = due_times(len(requests), rate)
    schedules = [
        list(zip(due[client::concurrency], requests[client::concurrency], strict=True))
        for client in range(concurrency)
    ]
    latencies: list[float] = []
    await asyncio.gather(*(_client(host, port, schedule, backend, latencies) for schedule in schedules))
    return latencies


def main() -> None:
    job = json.load(sys.stdin)
    host = urlsplit(job["url"]).netloc
    mode = {"mode": job["mode"]} if job.get("mode") else {}
    # The Qdrant path is asked as users ask it: backend "auto" (circuit breaker, timeout, fallback), and
    # the answer must come from Qdrant; the PostgreSQL path is named.
    asked = "auto" if job["backend"] == "qdrant" else job["backend"]
    requests = [
        encode_request(host, {"query": text, "top_k": job["top_k"], "backend": asked, **mode})
        for text in job["queries"]
    ]
    rate = job.get("rate")
    asyncio.run(run(job["url"], requests[: job["warmup"]], job["concurrency"], job["backend"], rate))
    started = time.perf_counter()
    latencies = asyncio.run(run(job["url"], requests, job["concurrency"], job["backend"], rate))
    json.dump({"latencies": latencies, "seconds": time.perf_counter() - started}, sys.stdout)


if __name__ == "__main__":
    main()
