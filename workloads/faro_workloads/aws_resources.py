"""boto3 clients from Faro's settings, and the bucket -> SQS wiring for local mode and tests.

In a cluster the bucket, queues and notification come from Terraform; locally (``faro local --s3``) and in
tests they are provisioned here against a local S3/SQS server (moto) on loopback.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config as BotoConfig

from faro_workloads.core.config import S3Config, SQSConfig

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
    s3: Any, sqs: Any, bucket: str, queue_name: str, key_prefix: str, max_receives: int = 5
) -> PipelineQueues:
    """Create (idempotently) the bucket, the event queue with its dead-letter queue, and the bucket's
    ObjectCreated notification to the queue for keys under ``key_prefix``."""
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
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": key_prefix}]}},
                }
            ]
        },
    )
    return PipelineQueues(queue_url=queue_url, dead_letter_queue_url=dlq_url)


def use_local_credentials() -> None:
    """Dummy credentials for a local S3/SQS server, unless real ones are configured."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "faro-local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "faro-local")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


class MotoServer:
    """A local S3 + SQS server (``moto_server``) on loopback, as a child process."""

    def __init__(self, port: int, host: str = "127.0.0.1", log_path: Path | None = None) -> None:
        self.url = f"http://{host}:{port}"
        self._args = ["-H", host, "-p", str(port)]
        self._log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        executable = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which(
            "moto_server"
        )
        if executable is None:
            raise RuntimeError("moto_server not found: install the [local] extra (moto[server])")
        log = self._log_path.open("ab") if self._log_path else subprocess.DEVNULL
        self._process = subprocess.Popen([executable, *self._args], stdout=log, stderr=log)
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
