"""Timing helpers: wall-clock runs, medians and latency percentiles."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np


def timed(action: Callable[[], object]) -> float:
    """Seconds ``action()`` took (wall clock)."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def settle_heap() -> None:
    """Collect, then freeze what the set-up left (corpus, prebuilt batches) out of the garbage collector.

    The benchmark process holds the whole corpus, which the measured code would not: without this, a full
    (generation 2) collection scanning it lands in whichever side happens to be running (~0.16 s on the
    repair benchmark), for both Faro and the baselines alike.
    """
    gc.collect()
    gc.freeze()


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 of latencies given in seconds, in milliseconds."""
    p50, p95, p99 = np.percentile(np.asarray(seconds) * 1000.0, [50, 95, 99])
    return {"p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99)}
