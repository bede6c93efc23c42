"""Closed-loop HTTP load for the query benchmark, run as its own process (so it does not share the server's
interpreter lock): ``concurrency`` clients, each on its own keep-alive connection, sending its next
``POST /v1/query`` as soon as the previous answer arrives. Reads a JSON job on stdin, writes the latencies
(seconds) on stdout.

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


async def _client(host: str, port: int, queue: asyncio.Queue[bytes], backend: str, out: list[float]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while not queue.empty():
            request = queue.get_nowait()
            started = time.perf_counter()
            writer.write(request)
            status, body = await read_response(reader)
            elapsed = time.perf_counter() - started
            if status != 200:
                raise ResponseError(f"status {status}: {body[:500]!r}")
            answered = json.loads(body)["backend"]
            if answered != backend:
                raise ResponseError(f"asked for {backend}, answered by {answered}")
            out.append(elapsed)
    finally:
        writer.close()
        await writer.wait_closed()


async def run(url: str, requests: list[bytes], concurrency: int, backend: str) -> list[float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for request in requests:
        queue.put_nowait(request)
    latencies: list[float] = []
    await asyncio.gather(*(_client(host, port, queue, backend, latencies) for _ in range(concurrency)))
    return latencies


def main() -> None:
    job = json.load(sys.stdin)
    host = urlsplit(job["url"]).netloc
    requests = [
        encode_request(host, {"query": text, "top_k": job["top_k"], "backend": job["backend"]})
        for text in job["queries"]
    ]
    asyncio.run(run(job["url"], requests[: job["warmup"]], job["concurrency"], job["backend"]))
    latencies = asyncio.run(run(job["url"], requests, job["concurrency"], job["backend"]))
    json.dump(latencies, sys.stdout)


if __name__ == "__main__":
    main()
