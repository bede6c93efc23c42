"""Fixtures of the integration tests beyond the shared ones in ``tests/conftest.py``.

- ``portkey_gateway`` (session): the real open-source Portkey AI gateway (npm ``@portkey-ai/gateway``, pinned
  in ``workloads/gateway``) listening on 127.0.0.1 and a free port; yields its base URL (no ``/v1``). It
  installs the gateway first with ``npm ci`` when ``node_modules`` is missing or older than the lockfile,
  and stops the process at the end. Needs ``node`` and ``npm`` on PATH. The start and stop code lives in
  ``support.portkey_gateway``, which the benchmarks use too.
- ``pushgateway`` (module): the URL of a real Pushgateway (the Debian ``prometheus-pushgateway``,
  ``support.prometheus_servers.Pushgateway``) on a free port with its own persistence file; skipped when the
  binary is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from support.portkey_gateway import GatewayError, running_gateway
from support.prometheus_servers import Pushgateway, StackError, find_binary


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


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real Pushgateway (the Debian binary) on a free port with its own persistence file."""
    try:
        find_binary("prometheus-pushgateway")
    except StackError as missing:
        pytest.skip(str(missing))
    server = Pushgateway(tmp_path_factory.mktemp("pushgateway"))
    server.start()
    yield server.url
    server.stop()
