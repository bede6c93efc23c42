"""Waiting in tests: poll a condition with a deadline instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.client.rest import ApiException


def wait_for(predicate: Callable[[], Any], timeout: float = 60, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy (a Kubernetes 404 counts as not yet); the value is
    returned. Fails the test after ``timeout`` seconds, naming ``what`` it waited for."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except ApiException as exc:
            if exc.status != 404:
                raise
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)
