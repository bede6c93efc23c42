"""A local S3 server (moto) whose bucket already holds many small objects: ``python -m bench.moto_populated
PORT BUCKET PREFIX=COUNT ...``. The objects are put straight into moto's in-process backend (100,000 in
seconds, against minutes through HTTP), then the server starts and prints ``ready`` on stdout.

Object ``{prefix}/{i:07}.md`` holds ``object_body(i)``; its ETag is the MD5 of that, as S3's is for a
single-part upload."""

from __future__ import annotations

import hashlib
import logging
import sys
import threading


def object_body(index: int) -> bytes:
    return b"# Document %d\n\nRestart the workers, then drain the outbox.\n" % index


def object_etag(index: int) -> str:
    return hashlib.md5(object_body(index)).hexdigest()


def main(argv: list[str]) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends
    from moto.server import ThreadedMotoServer

    port, bucket, *populations = argv
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_bucket(bucket, "us-east-1")
    for population in populations:
        prefix, count = population.split("=")
        for index in range(int(count)):
            backend.put_object(bucket, f"{prefix}/{index:07}.md", object_body(index))
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(port), verbose=False)
    server.start()
    print("ready", flush=True)
    threading.Event().wait()  # until killed


if __name__ == "__main__":
    main(sys.argv[1:])
