"""Fixtures of the integration tests beyond the shared ones in ``tests/conftest.py``.

- ``portkey_gateway`` (session): the real open-source Portkey AI gateway (npm ``@portkey-ai/gateway``, pinned
  in ``workloads/gateway``) listening on 127.0.0.1 and a free port; yields its base URL (no ``/v1``). It
  installs the gateway first with ``npm ci`` when ``node_modules`` is missing or older than the lockfile,
  and stops the process at the end. Needs ``node`` and ``npm`` on PATH. The start and stop code lives in
  ``support.portkey_gateway``, which the benchmarks use too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from support.portkey_gateway import GatewayError, running_gateway


@pytest.fixture(scope="session")
def portkey_gateway() -> Iterator[str]:
    """Base URL (``http://127.0.0.1:<port>``) of a real Portkey gateway running for the whole session."""
    gateway = ExitStack()
    try:
        url = gateway.enter_context(running_gateway())
    except GatewayError as exc:
        pytest.fail(str(exc), pytrace=False)
    with gateway:
        yield url
