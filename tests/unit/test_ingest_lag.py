"""The embedding engine's ingest lag: the age of the oldest message of a receive."""

from __future__ import annotations

import time

import pytest

from faro_workloads.embedder_worker import _oldest_age_seconds


def sent(seconds_ago: float) -> dict:
    return {"Attributes": {"SentTimestamp": str(int((time.time() - seconds_ago) * 1000))}}


def test_the_lag_is_the_oldest_message_age_and_zero_for_an_empty_receive() -> None:
    assert _oldest_age_seconds([sent(5), sent(600), sent(60)]) == pytest.approx(600, abs=2)
    assert _oldest_age_seconds([]) == 0.0
    assert _oldest_age_seconds([{"Attributes": {}}, {"Attributes": {"SentTimestamp": "x"}}]) == 0.0
