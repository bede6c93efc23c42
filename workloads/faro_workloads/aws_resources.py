"""boto3 clients from Faro's settings, and the bucket -> SQS wiring for local mode and tests.

In a cluster the bucket, queues and notification come from Terraform; locally (``faro local --s3``) and in
tests they are provisioned here against a local S3/SQS server (moto) on loopback.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config as BotoConfig

from faro_workloads.contract.settings import S3Config, SQSConfig

_BOTO = BotoConfig(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=5, read_timeout=30)


def s3_client(config: S3Config) -> Any:
    return boto3.client("s3", endpoint_url=config.endpoint_url, region_name=config.region, config=_BOTO)


def sqs_client(config: SQSConfig) -> Any:
    # Long polls hold the connection for wait_seconds: the read timeout must outlast them.
    read_timeout = config.wait_seconds + 10
    boto = _BOTO.merge(BotoConfig(read_timeout=read_timeout))
    return boto3.client("sqs", endpoint_url=config.endpoint_url, region_name=config.region, config=boto)


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Messages in a queue, waiting or in flight (received, not yet deleted): 0 once everything was acked."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


@dataclass(frozen=True)
class PipelineQueues:
    queue_url: str
    dead_letter_queue_url: str


def provision_pipeline_resources(
    s3: Any,
    sqs: Any,
    bucket: str,
    queue_name: str,
    key_prefix: str,
    max_receives: int = 5,
    source_prefix: str | None = None,
) -> PipelineQueues:
    """Create (idempotently) the bucket, the event queue with its dead-letter queue, and the bucket's
    ObjectCreated notification to the queue for keys under ``key_prefix`` (and ObjectCreated and
    ObjectRemoved for keys under ``source_prefix``, a bucket source's, when given): what Terraform's
    ``chunk_storage`` module makes in AWS."""
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket)
    dlq_url = sqs.create_queue(QueueName=f"{queue_name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    queue_url = sqs.create_queue(
        QueueName=queue_name,
        Attributes={
            # SQS's own backstop, above the worker's poison threshold: transient outages must not dead-letter.
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives * 4)}
            )
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    notifications = [
        {
            "QueueArn": queue_arn,
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": key_prefix}]}},
        }
    ]
    if source_prefix is not None:
        notifications.append(
            {
                "QueueArn": queue_arn,
                "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"],
                "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": source_prefix}]}},
            }
        )
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"QueueConfigurations": notifications}
    )
    return PipelineQueues(queue_url=queue_url, dead_letter_queue_url=dlq_url)


def use_local_credentials() -> None:
    """Dummy credentials for a local S3/SQS server, unless real ones are configured."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "faro-local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "faro-local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


# Run in the child: on Linux it asks the kernel to SIGKILL it when its parent dies (PR_SET_PDEATHSIG, kept
# across exec), and exits if the parent died before that; then it is moto_server.
_MOTO_TIED_TO_PARENT = """
import ctypes, os, signal, sys
if sys.platform.startswith("linux"):
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    if os.getppid() != int(sys.argv[1]):
        sys.exit("moto_server: the process that started it is gone")
from moto.server import main
main(sys.argv[2:])
"""


class MotoServer:
    """A local S3 + SQS server (``moto_server``) on loopback, as a child process.

    Its state is in memory only. The server dies with the process that started it, even one killed with
    SIGKILL (on Linux: PR_SET_PDEATHSIG, tied to the starting *thread*, so start it from a thread that lives
    as long as the server is needed, e.g. the main thread). With ``pid_file``, its pid is kept there while it
    runs, and :meth:`start` first kills a moto_server that a crashed run left behind (where PDEATHSIG does not
    exist).
    """

    def __init__(
        self, port: int, host: str = "127.0.0.1", log_path: Path | None = None, pid_file: Path | None = None
    ) -> None:
        self.url = f"http://{host}:{port}"
        self._args = ["-H", host, "-p", str(port)]
        self._log_path = log_path
        self._pid_file = pid_file
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        if importlib.util.find_spec("moto") is None:
            raise RuntimeError("moto_server not found: install the [local] extra (moto[server])")
        if self._pid_file is not None:
            stop_leftover_moto_server(self._pid_file)
        log = self._log_path.open("ab") if self._log_path else subprocess.DEVNULL
        command = [sys.executable, "-c", _MOTO_TIED_TO_PARENT, str(os.getpid()), *self._args]
        self._process = subprocess.Popen(command, stdout=log, stderr=log)
        if self._pid_file is not None:
            self._pid_file.write_text(f"{self._process.pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {self._process.returncode}")
            try:
                httpx.get(f"{self.url}/moto-api/", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"moto_server did not answer on {self.url} within {timeout}s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._pid_file is not None:
            self._pid_file.unlink(missing_ok=True)


def stop_leftover_moto_server(pid_file: Path) -> bool:
    """Kill the moto_server whose pid ``pid_file`` holds, if that process still runs and is a moto_server
    (not a process that reused the pid); remove the file. Returns whether one was killed."""
    import psutil  # with the [local] extra (pgserver needs it)

    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        pid_file.unlink(missing_ok=True)
        return False
    killed = False
    try:
        process = psutil.Process(pid)
        if any("moto" in part for part in process.cmdline()):
            process.kill()
            process.wait(timeout=10)
            killed = True
    except psutil.Error:  # gone already, or not ours to look at
        pass
    pid_file.unlink(missing_ok=True)
    return killed
