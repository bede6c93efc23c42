"""SIGTERM to an HTTP service, as the kubelet sends it after the preStop pause: a request in flight finishes
and is answered, no new connection is accepted, and the process exits 0 well within the pod's grace period.

The chunking service runs as its own process (`faro serve chunker`, S3 on moto); the request in flight is an
upload whose body is still arriving when the signal comes.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from faro_workloads.background_server import free_port
from faro_workloads.contract.settings import FaroSettings
from faro_workloads.contract.shutdown import HTTP_DRAIN_SECONDS

from support.faro_process import faro_process
from support.service_processes import service_environment

pytestmark = pytest.mark.integration


def _slow_body(started: threading.Event, parts: int = 10, pause: float = 0.2) -> Iterator[bytes]:
    """A JSON upload sent in ``parts`` pieces ``pause`` seconds apart; ``started`` is set after the first."""
    text = " ".join(f"sentence {n} of a document still arriving." for n in range(200))
    body = json.dumps({"doc_id": "arriving", "text": text}).encode()
    size = len(body) // parts + 1
    for offset in range(0, len(body), size):
        yield body[offset : offset + size]
        started.set()
        time.sleep(pause)


def test_sigterm_lets_the_request_in_flight_finish_then_refuses_new_ones(
    aws_pipeline, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    s3 = aws_pipeline.s3_config
    settings = FaroSettings(
        pipeline=aws_pipeline.pipeline,
        s3=aws_pipeline.s3_config,
    )
    env = service_environment(settings)
    args = ("serve", "chunker", "--host", "127.0.0.1", "--port", str(port))
    answers: list[httpx.Response] = []
    started = threading.Event()

    def upload() -> None:
        with httpx.Client(timeout=30) as client:
            answers.append(
                client.post(
                    f"{url}/v1/documents",
                    content=_slow_body(started),
                    headers={"content-type": "application/json"},
                )
            )

    with faro_process(*args, log=tmp_path / "chunker.log", ready_url=f"{url}/readyz", env=env) as process:
        in_flight = threading.Thread(target=upload)
        in_flight.start()
        assert started.wait(10)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # the server has stopped listening
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"{url}/healthz", timeout=2)
        in_flight.join(30)
        assert process.wait(timeout=HTTP_DRAIN_SECONDS + 5) == 0
        stopped_after = time.monotonic() - signalled

    [answer] = answers
    assert answer.status_code == 202, answer.text  # accepted: its chunk object is in S3
    assert answer.json()["doc_id"] == "arriving"
    assert aws_pipeline.s3.list_objects_v2(Bucket=s3.bucket)["KeyCount"] >= 1
    assert stopped_after < HTTP_DRAIN_SECONDS  # it exited once the request was answered, not at the deadline
