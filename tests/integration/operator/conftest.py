"""Fixtures of the operator's integration tests: a real Kubernetes API server
(``tests/support/kube_apiserver.py``).

- ``kube_api`` (session): a :class:`support.kube_apiserver.KubeApiServer`, i.e. etcd + kube-apiserver started
  on 127.0.0.1 and free ports, ready; attributes ``url``, ``kubeconfig`` (admin), ``version`` (major, minor,
  ``at_least()``), ``apiserver_log`` / ``etcd_log``; methods ``api_client()`` (a new kubernetes
  ``ApiClient``), ``http_client()`` (raw httpx), ``env()`` (environment with ``KUBECONFIG``),
  ``served_group_versions()`` and ``served_kinds(group_version)``. Stopped at the end of the session. Missing
  binaries fail the tests with what to run (``make test`` builds them); nothing is skipped.
- (autouse) tests using ``kube_api`` fail with kube-apiserver's or etcd's exit status and log when either
  is not running before or after the test (a crash), instead of with connection errors.
- ``kube_api_client`` (session): one shared ``kubernetes.client.ApiClient`` for ``kube_api``.
- ``crds_installed`` (session): Faro's CRDs applied and Established.
- ``connector``: a :class:`support.running_operator.LocalStoreConnector` (real adapters, local Qdrant).
- ``operator``: the operator (kopf in-process) on this test's namespace; the yielded function restarts it.
- ``resources``: the example Collection and RagPipeline fitted to the namespace and stores, plus a Secret.
- ``namespace``: a namespace of this test's own (``faro-test-<hex>``); its deletion is requested after the
  test but not awaited: without a controller-manager it stays ``Terminating``.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from faro_operator.runner import OperatorOptions, run_operator

from support.kube_apiserver import KubeApiServer, KubeApiServerError, find_binaries, install_crds
from support.running_operator import QDRANT_URL, RESYNC_SECONDS, LocalStoreConnector


@pytest.fixture(scope="session")
def kube_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeApiServer]:
    """A real etcd + kube-apiserver for the session (see ``tests/support/kube_apiserver.py``)."""
    problem = ""
    try:
        server = KubeApiServer(find_binaries(), log_dir=tmp_path_factory.mktemp("kube-api"))
        server.start()
    except KubeApiServerError as error:
        problem = str(error)
    if problem:  # failed outside the except block: the message is not chained to the original traceback
        pytest.fail(f"the operator tests need a Kubernetes API server: {problem}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _kube_api_running(request: pytest.FixtureRequest) -> Iterator[None]:
    """For tests using ``kube_api``: fail with the server's exit status and log, rather than with connection
    errors, when kube-apiserver or etcd is not running before or after the test (e.g. it crashed)."""
    server = request.getfixturevalue("kube_api") if "kube_api" in request.fixturenames else None
    if server is not None and (problem := server.failure()):
        pytest.fail(f"the Kubernetes API server is down: {problem}", pytrace=False)
    yield
    if server is not None and (problem := server.failure()):
        pytest.fail(f"the Kubernetes API server went down during the test: {problem}", pytrace=False)


@pytest.fixture(scope="session")
def kube_api_client(kube_api: KubeApiServer) -> Iterator[Any]:
    """A ``kubernetes.client.ApiClient`` with admin rights on ``kube_api``, shared by the session."""
    with kube_api.api_client() as api_client:
        yield api_client


@pytest.fixture
def namespace(kube_api_client: Any) -> Iterator[str]:
    """The name of a new, empty namespace for this test; deleted (not awaited) afterwards."""
    core = client.CoreV1Api(kube_api_client)
    name = f"faro-test-{uuid.uuid4().hex[:10]}"
    core.create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"faro.test/owner": "pytest"}))
    )
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as error:
        if error.status != 404:
            raise


@pytest.fixture(scope="session")
def crds_installed(kube_api: KubeApiServer, kube_api_client: Any) -> None:
    """Faro's CRDs (generated from the models), applied once and Established."""
    install_crds(kube_api_client)


@pytest.fixture
def connector(tmp_path: Path) -> Iterator[LocalStoreConnector]:
    stores = LocalStoreConnector(tmp_path)
    yield stores
    stores.close()


@pytest.fixture
def operator(
    kube_api, crds_installed, namespace: str, connector: LocalStoreConnector, monkeypatch
) -> Iterator[Callable[[], None]]:
    """Runs the operator on this test's namespace; the yielded function restarts it."""
    monkeypatch.setenv("KUBECONFIG", str(kube_api.kubeconfig))
    state: dict[str, Any] = {}

    def start() -> None:
        stop, ready = threading.Event(), threading.Event()
        options = OperatorOptions(
            namespaces=[namespace], resync_seconds=RESYNC_SECONDS, liveness_endpoint=None, metrics_port=None
        )
        thread = threading.Thread(
            target=run_operator,
            kwargs={
                "options": options,
                "api": kube_api.api_client(),
                "store_connector": connector,
                "stop_flag": stop,
                "ready_flag": ready,
            },
            daemon=True,
        )
        thread.start()
        assert ready.wait(30), "operator did not start"
        state.update(stop=stop, thread=thread)

    def stop() -> None:
        state["stop"].set()
        state["thread"].join(timeout=30)
        assert not state["thread"].is_alive(), "operator did not stop"

    def restart() -> None:
        stop()
        start()

    start()
    yield restart
    stop()


@pytest.fixture
def resources(kube_api_client, namespace: str, postgres_dsn: str) -> dict[str, Any]:
    """The example Collection and RagPipeline, fitted to this test's namespace and stores, plus a Secret."""
    core = client.CoreV1Api(kube_api_client)
    secret = {
        "dsn": base64.b64encode(postgres_dsn.encode()).decode(),
        "api-key": base64.b64encode(b"k").decode(),
    }
    core.create_namespaced_secret(
        namespace, client.V1Secret(metadata=client.V1ObjectMeta(name="stores"), data=secret)
    )
    examples = Path(__file__).resolve().parents[3] / "examples" / "kubernetes"
    collection = yaml.safe_load((examples / "collection.yaml").read_text())
    collection["metadata"] = {"name": f"docs-{namespace[-6:]}", "namespace": namespace}
    collection["spec"]["qdrant"] = {"url": QDRANT_URL, "collectionName": f"c_{namespace[-10:]}"}
    collection["spec"]["postgres"] = {
        "dsnSecretRef": {"name": "stores", "key": "dsn"},
        "schema": f"s_{namespace[-10:]}",
    }
    collection["spec"]["deletionPolicy"] = "Delete"
    pipeline = yaml.safe_load((examples / "ragpipeline.yaml").read_text())
    pipeline["metadata"] = {"name": "docs", "namespace": namespace}
    pipeline["spec"]["collectionRef"] = {"name": collection["metadata"]["name"]}
    pipeline["spec"]["embedding"]["apiKeySecretRef"] = {"name": "stores", "key": "api-key"}
    pipeline["spec"]["query"]["authSecretRef"] = {"name": "stores", "key": "api-key"}
    return {"collection": collection, "pipeline": pipeline}
