"""The embedding engine's SQS worker on a thread of the test process, stopped when the block ends."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from faro_workloads.embedder_worker import EmbedderWorker


@contextmanager
def worker_thread(worker: EmbedderWorker, grace_seconds: float = 15) -> Iterator[EmbedderWorker]:
    """Run ``worker`` until the block ends; then it stops receiving and finishes (or releases) its work."""
    thread = threading.Thread(
        target=worker.run, kwargs={"shutdown_grace_seconds": grace_seconds}, daemon=True
    )
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=grace_seconds + 25)
        assert not thread.is_alive(), "the worker did not stop"
