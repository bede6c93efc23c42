"""A real Prometheus scraping Faro's real workloads: what the dashboards and alert rules are checked against.

Used by ``tests/integration/test_prometheus_observability.py`` and by ``scripts/render_dashboard_pngs.py``
(the README's dashboard images); a plain module like ``tests/support/kube_apiserver.py``, importable from
both.

- :class:`Pushgateway` / :class:`Prometheus`: the Debian binaries (``prometheus-pushgateway``,
  ``prometheus``; ``scripts/install-system-deps.sh``) on 127.0.0.1 and free ports, each in its own folder.
  Prometheus scrapes every second and loads ``monitoring/prometheus-rules.yaml``, so the alert rules are
  evaluated as rules too.
- :func:`observability_stack`: everything a dashboard panel shows, running for real and scraped:

  - the chunking service, two embedding engines and two query services (``faro serve ...`` processes) of
    pipeline ``demo`` in namespace ``faro-demo``, against a local S3 + SQS (moto) and PostgreSQL + pgvector
    (pgserver), Qdrant in local mode. One embedding engine's Qdrant refuses connections and it starts first,
    so its first write waits in the outbox (drain failures, a backlog Prometheus is made to see) until the
    other one's drainer applies it. Local mode allows one client per folder, so that embedder owns the
    live folder and the healthy query service reads a copy of it taken once the ingest settled; the other
    query service's Qdrant first never answers (timeouts, then an open circuit), later refuses connections
    (errors): its queries fall back to PostgreSQL;
  - the operator (``faro operator``) reconciling a Collection and two RagPipelines (one with a dimension
    mismatch: failed reconciles) on a real kube-apiserver + etcd (``tests/support/kube_apiserver.py``);
  - the consistency job (``faro consistency``) pushing to the Pushgateway three times: consistent, drift
    (points deleted from its copy of Qdrant, orphan points added), repaired (``--repair``);
  - traffic: every document of ``examples/docs`` and ``tests/data``, invalid documents, a poison SQS
    message (dead-lettered), queries against both query services, then revisions, unchanged re-uploads
    and deletions of documents while the queries go on.

  Prometheus gives every scraped series ``namespace`` and ``pipeline`` (what the ServiceMonitor's
  relabelling does in a cluster) plus ``service`` and ``pod`` as the Prometheus Operator would, and
  scrapes the Pushgateway with ``honor_labels``; the operator's series carry its own namespace only.
  Everything is stopped again when the context exits.

Failures raise :class:`StackError` (or, from ``tests/support/faro_process.py``, pytest's ``Failed``) with the
log of the part that failed.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from faro_workloads.background_server import free_port
from faro_workloads.contract.access import key_digest, new_key

from support.faro_process import faro_process
from support.kube_apiserver import KubeApiServer, find_binaries, install_crds, log_tail, stop_process
from support.postgres import temporary_postgres

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = REPO_ROOT / "monitoring" / "prometheus-rules.yaml"
DOCUMENT_FOLDERS = (REPO_ROOT / "examples" / "docs", REPO_ROOT / "tests" / "data")

NAMESPACE = "faro-demo"
PIPELINE = "demo"
OPERATOR_NAMESPACE = "faro-system"
PUSHGATEWAY_NAMESPACE = "monitoring"
PREFERRED_VALUES = {"namespace": (NAMESPACE, OPERATOR_NAMESPACE), "pipeline": (PIPELINE,)}
"""What a user picks for a dashboard variable here, in order: the pipeline's namespace, else (the operator's
dashboard) the operator's."""

SCRAPE_INTERVAL_SECONDS = 1
RATE_INTERVAL = "15s"
"""What Grafana's ``$__rate_interval`` becomes here: 15 scrape intervals."""
DIMENSION = 64
COLLECTION = "docs"
START_TIMEOUT_SECONDS = 60.0
# Seconds an embedding engine gets to finish its work when stopped.
EMBEDDER_GRACE = ("--shutdown-grace", "5")
SETTLE_TIMEOUT_SECONDS = 90.0
QUERY_INTERVAL_SECONDS = 0.25
UNAUTHENTICATED_EVERY = 7  # of the key-holding load's requests, one in this many is sent without the key
QUERIES = (
    "how do I install faro",
    "what happens when qdrant is down",
    "outbox pending writes",
    "consistency job overlap at k",
    "local mode without a cluster",
    "query the collection over http",
    "dual write to postgres and qdrant",
)

Log = Callable[[str], None]


class StackError(RuntimeError):
    """A part of the stack is missing, did not start, or misbehaved (the message tells which and why)."""


def find_binary(name: str) -> str:
    """The path of a Debian server binary, or :class:`StackError` saying how to install it."""
    path = shutil.which(name) or f"/usr/bin/{name}"
    if not os.access(path, os.X_OK):
        raise StackError(f"{name} is not installed: run scripts/install-system-deps.sh (make system-deps)")
    return path


# ------------------------------------------------------------------------------- Pushgateway, Prometheus


class LoopbackServer:
    """A server binary listening on 127.0.0.1 and a free port, its output in ``<folder>/<name>.log``."""

    name = "server"
    ready_path = "/-/ready"

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.address}"
        self.log = folder / f"{self.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    def _spawn(self, binary: str, *args: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self._process = subprocess.Popen([binary, *args], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise StackError(
                    f"{self.name} exited with {self._process.returncode}; log {self.log}:\n"
                    f"{log_tail(self.log)}"
                )
            try:
                if httpx.get(f"{self.url}{self.ready_path}", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise StackError(f"{self.name} was not ready within {timeout:g} s:\n{log_tail(self.log)}")
            time.sleep(0.05)

    def stop(self) -> None:
        stop_process(self._process)
        self._process = None


class Pushgateway(LoopbackServer):
    """The Debian ``prometheus-pushgateway`` with a persistence file in ``folder``."""

    name = "pushgateway"

    def start(self) -> None:
        self._spawn(
            find_binary("prometheus-pushgateway"),
            f"--web.listen-address={self.address}",
            f"--persistence.file={self.folder / 'metrics.data'}",
        )


@dataclass(frozen=True)
class ScrapeTarget:
    """One ``host:port`` Prometheus scrapes under ``job``, with labels added to every series."""

    job: str
    address: str
    labels: dict[str, str]
    honor_labels: bool = False


class Prometheus(LoopbackServer):
    """The Debian ``prometheus`` server: static targets, every series scraped every second, the alert rules
    of ``rule_files`` evaluated every second, the TSDB in ``folder``; a small client of its HTTP API."""

    name = "prometheus"

    def __init__(self, folder: Path, targets: list[ScrapeTarget], rule_files: tuple[Path, ...] = ()) -> None:
        super().__init__(folder)
        self.targets = targets
        self.rule_files = rule_files
        self._http = httpx.Client(base_url=self.url, timeout=30)

    def config(self) -> dict[str, Any]:
        jobs: dict[str, list[ScrapeTarget]] = {}
        for target in self.targets:
            jobs.setdefault(target.job, []).append(target)
        interval = f"{SCRAPE_INTERVAL_SECONDS}s"
        return {
            "global": {
                "scrape_interval": interval,
                "scrape_timeout": interval,
                "evaluation_interval": interval,
            },
            "rule_files": [str(path) for path in self.rule_files],
            "scrape_configs": [
                {
                    "job_name": job,
                    "honor_labels": any(target.honor_labels for target in members),
                    "static_configs": [
                        {"targets": [target.address], "labels": target.labels} for target in members
                    ],
                }
                for job, members in jobs.items()
            ],
        }

    def start(self) -> None:
        config = self.folder / "prometheus.yml"
        self.folder.mkdir(parents=True, exist_ok=True)
        config.write_text(yaml.safe_dump(self.config(), sort_keys=False))
        self._spawn(
            find_binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.folder / 'data'}",
            f"--web.listen-address={self.address}",
        )

    def stop(self) -> None:
        super().stop()
        self._http.close()

    # ---------------------------------------------------------------------------------------------- API

    def _answer(self, response: httpx.Response) -> dict[str, Any]:
        try:
            return response.json()
        except ValueError:
            return {"status": "error", "errorType": str(response.status_code), "error": response.text}

    def query(self, expr: str, at: float | None = None) -> dict[str, Any]:
        """The answer of ``/api/v1/query``: ``status`` "success" with ``data``, or "error" with ``error``."""
        form = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        return self._answer(self._http.post("/api/v1/query", data=form))

    def query_range(self, expr: str, start: float, end: float, step: float) -> dict[str, Any]:
        """The answer of ``/api/v1/query_range`` (a matrix on success)."""
        form = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
        return self._answer(self._http.post("/api/v1/query_range", data=form))

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """``data`` of a successful GET of ``/api/v1/<path>`` (targets, rules, ...)."""
        answer = self._answer(self._http.get(f"/api/v1/{path}", params=params))
        if answer.get("status") != "success":
            raise StackError(f"GET /api/v1/{path}: {answer}")
        return answer["data"]

    def down_targets(self) -> list[str]:
        """The active targets whose last scrape failed (or that were not scraped yet), with the error."""
        return [
            f"{target['labels'].get('job')} {target['scrapeUrl']}: {target['health']} {target['lastError']}"
            for target in self.get("targets")["activeTargets"]
            if target["health"] != "up"
        ]

    def wait_for(self, expr: str, what: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Until the instant query ``expr`` returns a series (e.g. a comparison that holds)."""
        deadline = time.monotonic() + timeout
        while not self.query(expr).get("data", {}).get("result"):
            if time.monotonic() > deadline:
                raise StackError(f"prometheus never saw {what} ({expr}) within {timeout:.0f}s")
            time.sleep(SCRAPE_INTERVAL_SECONDS / 2)

    def wait_for_targets_up(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while down := self.down_targets():
            if time.monotonic() > deadline:
                raise StackError("targets not up:\n" + "\n".join(down))
            time.sleep(SCRAPE_INTERVAL_SECONDS / 2)


# ------------------------------------------------------------------------------------------ the workloads


def _labels(component: str, pod: int = 0, endpoint: str = "http") -> dict[str, str]:
    service = f"{PIPELINE}-{component}"
    return {
        "namespace": NAMESPACE,
        "pipeline": PIPELINE,
        "service": service,
        "pod": f"{service}-{pod}",
        "endpoint": endpoint,
    }


class Blackhole:
    """A TCP port that accepts connections (the kernel's backlog) but never answers, until :meth:`close`;
    after that, connections to it are refused."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(128)
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def close(self) -> None:
        self._socket.close()


class QueryLoad:
    """A thread posting queries to one query service every ``QUERY_INTERVAL_SECONDS`` until stopped; with
    ``key``, as its bearer, and every ``UNAUTHENTICATED_EVERY``-th request without it (refused: 401)."""

    def __init__(self, url: str, key: str | None = None) -> None:
        self._url = url
        self._key = key
        self._stop = threading.Event()
        self.answered: dict[str, int] = {}
        self.refused = 0
        self.failures: list[str] = []
        self._thread = threading.Thread(target=self._run, name=f"queries-{url}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(base_url=self._url, timeout=30) as client:
            turn = 0
            while not self._stop.is_set():
                text = QUERIES[turn % len(QUERIES)]
                turn += 1
                body = {"query": text, "top_k": 1 + turn % 5}
                try:
                    if self._key is not None and turn % UNAUTHENTICATED_EVERY == 0:
                        response = client.post("/v1/query", json=body)
                        if response.status_code != 401:
                            self.failures.append(f"{text!r} without a key: {response.status_code}")
                        self.refused += 1
                        continue
                    headers = {"authorization": f"Bearer {self._key}"} if self._key else {}
                    response = client.post("/v1/query", json=body, headers=headers)
                    response.raise_for_status()
                    backend = response.json()["backend"]
                    self.answered[backend] = self.answered.get(backend, 0) + 1
                except (httpx.HTTPError, KeyError, ValueError) as exc:
                    self.failures.append(f"{text!r}: {exc}")
                finally:
                    self._stop.wait(QUERY_INTERVAL_SECONDS)


_LABEL_VALUES = re.compile(r"^\s*label_values\((?:(?P<selector>.+),\s*)?(?P<label>\w+)\s*\)\s*$", re.DOTALL)


@dataclass
class Stack:
    """A running stack: its Prometheus, and when it started, when the first document was uploaded and when
    the scenario ended (Unix times)."""

    prometheus: Prometheus
    pushgateway: Pushgateway
    started: float
    traffic_started: float
    finished: float
    rate_interval: str = RATE_INTERVAL
    answered: dict[str, dict[str, int]] = field(default_factory=dict)

    def variables(self, dashboard: Mapping[str, Any]) -> dict[str, str]:
        """One value per query variable of ``dashboard``, as a user would pick it from the drop-down: the
        variable's ``label_values(selector, label)`` is evaluated here (earlier variables substituted), and
        the first of ``PREFERRED_VALUES[label]`` it offers is taken. :class:`StackError` when it offers
        none of them (a variable query that finds nothing leaves every panel empty)."""
        from support.dashboards import substitute_variables

        values: dict[str, str] = {}
        for variable in dashboard.get("templating", {}).get("list", []):
            if variable.get("type") != "query":
                continue
            query = variable.get("query")
            query = query.get("query", "") if isinstance(query, dict) else str(query or "")
            match = _LABEL_VALUES.match(query)
            if match is None:
                raise StackError(f"variable {variable['name']}: not a label_values() query: {query!r}")
            label, selector = match["label"], match["selector"]
            params = {}
            if selector:
                params["match[]"] = substitute_variables(selector, values, self.rate_interval)
            offered = self.prometheus.get(f"label/{label}/values", params)
            chosen = next((value for value in PREFERRED_VALUES.get(label, ()) if value in offered), None)
            if chosen is None:
                raise StackError(
                    f"variable {variable['name']} ({query}) offers {offered}, none of "
                    f"{PREFERRED_VALUES.get(label)}"
                )
            values[variable["name"]] = chosen
        return values


def _documents() -> list[tuple[str, str, str]]:
    """(doc_id, text, format) of every example document."""
    formats = {".md": "markdown", ".html": "html", ".txt": "text"}
    documents = []
    for folder in DOCUMENT_FOLDERS:
        for path in sorted(folder.iterdir()):
            if path.suffix in formats:
                doc_id = f"{folder.name}/{path.name}"
                documents.append((doc_id, path.read_text(), formats[path.suffix]))
    return documents


class Workloads:
    """Faro's processes for one pipeline, their settings, and the traffic the scenario sends them."""

    def __init__(self, folder: Path, postgres_dsn: str, moto_url: str, pushgateway: str, log: Log) -> None:
        from faro_workloads.aws_resources import (
            provision_pipeline_resources,
            s3_client,
            sqs_client,
            use_local_credentials,
        )
        from faro_workloads.contract.settings import S3Config, SQSConfig

        use_local_credentials()  # this process's S3/SQS clients; the workloads get them in their env

        self.folder = folder
        self.logs = folder / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.log = log
        self.query_key = new_key()
        self.keys_file = folder / "keys.json"
        entry = {"name": "dashboards", "sha256": key_digest(self.query_key), "scope": "query"}
        self.keys_file.write_text(json.dumps({"keys": [entry]}))
        self.postgres_dsn = postgres_dsn
        self.schema = f"obs_{uuid.uuid4().hex[:10]}"
        self.pushgateway = pushgateway
        name = uuid.uuid4().hex[:8]
        s3_config = S3Config(bucket=f"faro-{name}", prefix="faro", endpoint_url=moto_url)
        self.sqs_client = sqs_client(SQSConfig(queue_url="pending", endpoint_url=moto_url))
        self.queues = provision_pipeline_resources(
            s3_client(s3_config),
            self.sqs_client,
            s3_config.bucket,
            f"faro-{name}-events",
            key_prefix=f"faro/{PIPELINE}/",
            max_receives=2,
        )
        components = ("chunker", "embedder", "embedder-down", "query", "query-down", "operator")
        self.ports = {component: free_port() for component in components}
        self.embedder_qdrant = folder / "qdrant-embedder"
        self.query_qdrant = folder / "qdrant-query"
        self.consistency_qdrant = folder / "qdrant-consistency"
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("FARO_", "KUBERNETES_", "AWS_", "KUBECONFIG"))
        }
        self.base_env = {
            **inherited,
            "AWS_ACCESS_KEY_ID": "faro-local",
            "AWS_SECRET_ACCESS_KEY": "faro-local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "FARO_PIPELINE": PIPELINE,
            "FARO_POSTGRES__DSN": postgres_dsn,
            "FARO_POSTGRES__SCHEMA_NAME": self.schema,
            "FARO_COLLECTION__NAME": COLLECTION,
            "FARO_COLLECTION__DIMENSION": str(DIMENSION),
            "FARO_EMBEDDING__DIMENSION": str(DIMENSION),
            "FARO_CHUNKING__STRATEGY": "markdown",
            "FARO_CHUNKING__SIZE": "48",
            "FARO_CHUNKING__OVERLAP": "8",
            "FARO_S3__BUCKET": s3_config.bucket,
            "FARO_S3__PREFIX": s3_config.prefix,
            "FARO_S3__ENDPOINT_URL": moto_url,
        }
        self.sqs_env = {
            "FARO_SQS__QUEUE_URL": self.queues.queue_url,
            "FARO_SQS__DEAD_LETTER_QUEUE_URL": self.queues.dead_letter_queue_url,
            "FARO_SQS__ENDPOINT_URL": moto_url,
            "FARO_SQS__MAX_RECEIVES": "2",
            "FARO_SQS__WAIT_SECONDS": "1",
            "FARO_SQS__VISIBILITY_TIMEOUT_SECONDS": "5",
            "FARO_SQS__CONCURRENCY": "2",
        }
        self.chunker = httpx.Client(base_url=f"http://127.0.0.1:{self.ports['chunker']}", timeout=30)

    def targets(self) -> list[ScrapeTarget]:
        address = {component: f"127.0.0.1:{port}" for component, port in self.ports.items()}
        return [
            ScrapeTarget(f"{PIPELINE}-chunker", address["chunker"], _labels("chunker")),
            ScrapeTarget(f"{PIPELINE}-embedder", address["embedder"], _labels("embedder", 0, "metrics")),
            ScrapeTarget(f"{PIPELINE}-embedder", address["embedder-down"], _labels("embedder", 1, "metrics")),
            ScrapeTarget(f"{PIPELINE}-query", address["query"], _labels("query", pod=0)),
            ScrapeTarget(f"{PIPELINE}-query", address["query-down"], _labels("query", pod=1)),
            ScrapeTarget(
                "faro-operator",
                address["operator"],
                {"namespace": OPERATOR_NAMESPACE, "service": "faro-operator", "pod": "faro-operator-0"},
            ),
        ]

    # ------------------------------------------------------------------------------------------ processes

    def _faro(self, component: str, *args: str, env: dict[str, str]) -> AbstractContextManager[Any]:
        """``faro serve <kind> ARGS`` on 127.0.0.1 and the component's port, ready when /healthz answers."""
        port = str(self.ports[component])
        return faro_process(
            "serve",
            component.removesuffix("-down"),
            "--host",
            "127.0.0.1",
            "--port",
            port,
            *args,
            log=self.logs / f"{component}.log",
            ready_url=f"http://127.0.0.1:{port}/healthz",
            env={**self.base_env, **env},
        )

    def pipeline_processes(self) -> list[AbstractContextManager[Any]]:
        """The chunking service and the embedding engine whose Qdrant refuses connections: its writes wait
        in the outbox (drain failures) until :meth:`live_embedder`'s drainer applies them."""
        refused = {"FARO_QDRANT__URL": f"http://127.0.0.1:{free_port()}", "FARO_QDRANT__TIMEOUT_SECONDS": "1"}
        return [
            self._faro("chunker", env={}),
            self._faro("embedder-down", *EMBEDDER_GRACE, env={**self.sqs_env, **refused}),
        ]

    def live_embedder(self) -> AbstractContextManager[Any]:
        """The embedding engine that owns the live Qdrant folder (and drains everyone's outbox rows)."""
        env = {**self.sqs_env, "FARO_QDRANT__PATH": str(self.embedder_qdrant)}
        return self._faro("embedder", *EMBEDDER_GRACE, env=env)

    def query_processes(self, unanswering_qdrant: str) -> list[AbstractContextManager[Any]]:
        """A query service on a copy of the embedder's Qdrant, and one whose Qdrant does not answer."""
        fast_fallback = {
            "FARO_QUERY__QDRANT_TIMEOUT_SECONDS": "0.5",
            "FARO_QUERY__BREAKER_RESET_SECONDS": "3",
        }
        down = {"FARO_QDRANT__URL": unanswering_qdrant, "FARO_QDRANT__TIMEOUT_SECONDS": "1"}
        keys = {"FARO_AUTH__KEYS_FILE": str(self.keys_file)}  # its callers need a key: refusals to show
        return [
            self._faro("query", env={**fast_fallback, "FARO_QDRANT__PATH": str(self.query_qdrant)}),
            self._faro("query-down", env={**fast_fallback, **down, **keys}),
        ]

    @contextmanager
    def operator(self) -> Iterator[None]:
        """etcd + kube-apiserver with Faro's CRDs, a Collection and two RagPipelines; ``faro operator``."""
        kube = KubeApiServer(find_binaries(), log_dir=self.logs / "kube-api")
        kube.start()
        try:
            with kube.api_client() as api:
                install_crds(api)
                self._operator_resources(api)
            liveness = f"http://127.0.0.1:{free_port()}/healthz"
            metrics = str(self.ports["operator"])
            with faro_process(
                *("operator", "--namespace", NAMESPACE, "--resync-seconds", "2", "--liveness", liveness),
                *("--metrics-port", metrics),
                log=self.logs / "operator.log",
                ready_url=liveness,
                env={**self.base_env, "KUBECONFIG": str(kube.kubeconfig)},
            ):
                yield
        finally:
            kube.stop()

    def _operator_resources(self, api: Any) -> None:
        from kubernetes import client

        from faro_operator import GROUP, VERSION

        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
        data = {"dsn": self.postgres_dsn, "api-key": "local"}
        core.create_namespaced_secret(
            NAMESPACE,
            client.V1Secret(
                metadata=client.V1ObjectMeta(name="stores"),
                data={key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
            ),
        )
        examples = REPO_ROOT / "examples" / "kubernetes"
        collection = yaml.safe_load((examples / "collection.yaml").read_text())
        collection["metadata"] = {"name": COLLECTION, "namespace": NAMESPACE}
        collection["spec"]["dimension"] = DIMENSION
        # Where nothing listens: the Collection stays waiting for Qdrant, its children are applied anyway.
        collection["spec"]["qdrant"] = {
            "url": f"http://127.0.0.1:{free_port()}",
            "collectionName": COLLECTION,
        }
        collection["spec"]["postgres"] = {
            "dsnSecretRef": {"name": "stores", "key": "dsn"},
            "schema": f"{self.schema}_operator",
        }
        objects = client.CustomObjectsApi(api)
        objects.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "collections", collection)
        template = yaml.safe_load((examples / "ragpipeline.yaml").read_text())
        for name, dimension in ((PIPELINE, DIMENSION), (f"{PIPELINE}-mismatch", DIMENSION // 2)):
            pipeline = json.loads(json.dumps(template))
            pipeline["metadata"] = {"name": name, "namespace": NAMESPACE}
            pipeline["spec"]["collectionRef"] = {"name": COLLECTION}
            pipeline["spec"]["embedding"]["dimension"] = dimension
            pipeline["spec"]["embedding"]["apiKeySecretRef"] = {"name": "stores", "key": "api-key"}
            pipeline["spec"]["query"]["authSecretRef"] = {"name": "stores", "key": "api-key"}
            objects.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "ragpipelines", pipeline)

    # ------------------------------------------------------------------------------------------- traffic

    def upload(self, doc_id: str, text: str, fmt: str = "markdown") -> int:
        response = self.chunker.post("/v1/documents", json={"doc_id": doc_id, "text": text, "format": fmt})
        if response.status_code >= 500:
            raise StackError(f"upload of {doc_id} failed: {response.status_code} {response.text}")
        return response.status_code

    def upload_invalid(self) -> None:
        """A document the chunking service rejects (binary content): an ingest error."""
        response = self.chunker.post(
            "/v1/documents", files={"file": ("scan.txt", b"\x00\x01binary\x00", "text/plain")}
        )
        if response.status_code != 422:
            raise StackError(f"an invalid document was answered {response.status_code}: {response.text}")

    def send_poison_message(self) -> None:
        self.sqs_client.send_message(QueueUrl=self.queues.queue_url, MessageBody="this is not an S3 event")

    def queue_depth(self, url: str) -> int:
        from faro_workloads.aws_resources import queue_depth

        return queue_depth(self.sqs_client, url)

    def pg_store(self) -> Any:
        from faro_workloads.contract.settings import CollectionConfig, PostgresConfig
        from faro_workloads.core.stores.postgres import PgVectorStore

        return PgVectorStore(
            PostgresConfig(dsn=self.postgres_dsn, schema_name=self.schema, pool_size=1),
            CollectionConfig(name=COLLECTION, dimension=DIMENSION),
        )

    def wait_until_settled(self, documents: int) -> None:
        """Until PostgreSQL holds ``documents`` documents, the outbox is empty and the event queue too."""
        store = self.pg_store()
        deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
        try:
            while True:
                try:
                    state = (store.document_count(), store.outbox_pending())
                except Exception:  # the embedder creates the schema; it may not exist yet
                    state = (-1, -1)
                if state == (documents, 0) and self.queue_depth(self.queues.queue_url) == 0:
                    return
                if time.monotonic() > deadline:
                    raise StackError(
                        f"ingest did not settle: (documents, outbox) = {state}, want ({documents}, 0); "
                        f"embedder log:\n{log_tail(self.logs / 'embedder.log')}"
                    )
                time.sleep(0.2)
        finally:
            store.close()

    def snapshot_qdrant(self, target: Path) -> None:
        """A copy of the embedder's (idle) Qdrant folder, for a process of its own."""
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(self.embedder_qdrant, target, ignore=shutil.ignore_patterns(".lock"))

    def drift_qdrant(self, folder: Path, share: int = 3, orphans: int = 4) -> tuple[int, int]:
        """Make the Qdrant copy in ``folder`` drift from PostgreSQL: delete every ``share``-th point (missing)
        and add ``orphans`` points of a document PostgreSQL does not hold; (missing, orphans)."""
        import dataclasses

        from faro_workloads.contract.settings import CollectionConfig, QdrantConfig
        from faro_workloads.core.stores.qdrant import QdrantStore

        store = QdrantStore(
            QdrantConfig(path=str(folder)), CollectionConfig(name=COLLECTION, dimension=DIMENSION)
        )
        try:
            ids = sorted(point for batch in store.scroll_ids() for point in batch)
            kept = store.retrieve(ids[1 : 1 + orphans], with_vectors=True).values()
            store.upsert([dataclasses.replace(chunk, doc_id="retired/old-guide") for chunk in kept])
            store.delete(ids[::share])
            return len(ids[::share]), len(kept)
        finally:
            store.close()

    def consistency(self, *args: str, expect: int) -> None:
        """``faro consistency ARGS`` on the consistency copy of Qdrant, pushing to the Pushgateway."""
        env = {
            **self.base_env,
            "FARO_QDRANT__PATH": str(self.consistency_qdrant),
            "FARO_CONSISTENCY__PUSHGATEWAY_URL": self.pushgateway,
            "FARO_CONSISTENCY__NAMESPACE": NAMESPACE,
            "FARO_CONSISTENCY__SAMPLE_SIZE": "40",
        }
        completed = subprocess.run(
            [sys.executable, "-m", "faro_workloads.cli", "consistency", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        with (self.logs / "consistency.log").open("a") as log:
            log.write(f"$ faro consistency {' '.join(args)} -> {completed.returncode}\n{completed.stderr}\n")
        if completed.returncode != expect:
            raise StackError(
                f"faro consistency {' '.join(args)} exited with {completed.returncode}, not {expect}:\n"
                f"{completed.stdout}\n{completed.stderr}"
            )
        verdict = json.loads(completed.stdout)
        self.log(
            f"consistency {' '.join(args)}: {verdict['result']}, overlap {verdict['before']['overlap_at_k']}"
        )


def enter_together(stack: ExitStack, managers: list[AbstractContextManager[Any]]) -> None:
    """Enter ``managers`` at the same time, each on a thread of its own (each waits for its own process to
    start); their exits join ``stack``. The first failure is raised once every manager has finished."""
    with ThreadPoolExecutor(max_workers=len(managers)) as pool:
        futures = [pool.submit(manager.__enter__) for manager in managers]
    failures = []
    for manager, future in zip(managers, futures, strict=True):
        try:
            future.result()
        except BaseException as exc:  # pytest's Failed is a BaseException
            failures.append(exc)
        else:
            stack.push(manager.__exit__)
    if failures:
        raise failures[0]


def _revisions(workloads: Workloads, documents: list[tuple[str, str, str]], seconds: float, log: Log) -> None:
    """Document churn for ``seconds``: revisions (replaced), unchanged re-uploads, deletions and
    re-creations, invalid documents and poison messages (a counter's first increment, which creates its
    series, is invisible to ``rate()``: errors have to go on happening to show)."""
    deadline = time.monotonic() + seconds
    turn = 0
    while time.monotonic() < deadline:
        doc_id, text, fmt = documents[turn % len(documents)]
        step = turn % 4
        if step == 0:
            workloads.upload(
                doc_id, f"{text}\n\nRevision {turn}: more words about the outbox and Qdrant.", fmt
            )
        elif step == 1:
            workloads.upload(doc_id, text, fmt)  # back to the original (replaced), then unchanged next time
            workloads.upload(doc_id, text, fmt)
        elif step == 2:
            workloads.chunker.delete(f"/v1/documents/{doc_id}")
        else:
            workloads.upload(doc_id, text, fmt)
            workloads.upload_invalid()
            workloads.send_poison_message()
        turn += 1
        time.sleep(1.0)
    for doc_id, text, fmt in documents:  # every document back as it was: the ingest can settle again
        workloads.upload(doc_id, text, fmt)
    log(f"{turn} document changes")


def _ingest(
    stack: ExitStack,
    workloads: Workloads,
    prometheus: Prometheus,
    documents: list[tuple[str, str, str]],
    log: Log,
) -> None:
    """Start the operator and the pipeline, and ingest ``documents``, an invalid one and a poison message.

    The first document goes to the embedding engine whose Qdrant refuses, while it is the only one running:
    an outbox backlog that stays until Prometheus has seen it, whichever engine wins the later messages.
    """
    log("starting kube-apiserver, the operator, the chunking service and the embedder whose Qdrant is down")
    enter_together(stack, [workloads.operator(), *workloads.pipeline_processes()])
    workloads.upload(*documents[0])
    prometheus.wait_for("max(faro_outbox_pending) > 0", "an outbox backlog")
    log("starting the live embedder")
    enter_together(stack, [workloads.live_embedder()])
    log(f"uploading {len(documents) - 1} more documents, an invalid one and a poison message")
    for doc_id, text, fmt in documents[1:]:
        workloads.upload(doc_id, text, fmt)
    workloads.upload_invalid()
    workloads.send_poison_message()
    workloads.wait_until_settled(len(documents))


@contextmanager
def observability_stack(
    folder: Path,
    postgres_dsn: str,
    moto_url: str,
    traffic_seconds: float = 20.0,
    log: Log = lambda message: None,
) -> Iterator[Stack]:
    """Start everything (see the module's docstring), run the scenario, wait until Prometheus scraped the
    end of it, and yield the :class:`Stack`; stop everything on exit. ``folder`` holds the data and logs.

    ``traffic_seconds``: how long documents keep changing after the consistency runs (the queries go on
    from the first query service's start to the end).
    """
    with ExitStack() as stack:
        started = time.time()
        pushgateway = Pushgateway(folder / "pushgateway")
        pushgateway.start()
        stack.callback(pushgateway.stop)
        workloads = Workloads(folder / "workloads", postgres_dsn, moto_url, pushgateway.url, log)
        stack.callback(workloads.chunker.close)
        targets = [
            *workloads.targets(),
            ScrapeTarget(
                "pushgateway", pushgateway.address, {"namespace": PUSHGATEWAY_NAMESPACE}, honor_labels=True
            ),
        ]
        prometheus = Prometheus(folder / "prometheus", targets, (RULES_FILE,))
        prometheus.start()
        stack.callback(prometheus.stop)
        log(f"prometheus at {prometheus.url}")

        documents = _documents()
        traffic_started = time.time()
        _ingest(stack, workloads, prometheus, documents, log)
        workloads.snapshot_qdrant(workloads.query_qdrant)
        workloads.snapshot_qdrant(workloads.consistency_qdrant)

        blackhole = Blackhole()
        stack.callback(blackhole.close)
        log("starting the query services")
        enter_together(stack, workloads.query_processes(blackhole.url))
        loads = {
            "query": QueryLoad(f"http://127.0.0.1:{workloads.ports['query']}"),
            "query-down": QueryLoad(f"http://127.0.0.1:{workloads.ports['query-down']}", workloads.query_key),
        }
        for load in loads.values():
            load.start()
            stack.callback(load.stop)

        workloads.consistency(expect=0)
        time.sleep(3)
        missing, orphans = workloads.drift_qdrant(workloads.consistency_qdrant)
        log(f"the consistency job's Qdrant lost {missing} points and holds {orphans} orphans")
        workloads.consistency(expect=1)
        time.sleep(3)
        workloads.consistency("--repair", expect=0)
        blackhole.close()  # from now on the second query service's Qdrant refuses connections: errors

        _revisions(workloads, documents, traffic_seconds, log)
        workloads.wait_until_settled(len(documents))
        if workloads.queue_depth(workloads.queues.dead_letter_queue_url) < 1:
            raise StackError("the poison message did not reach the dead-letter queue")
        prometheus.wait_for_targets_up()
        time.sleep(3 * SCRAPE_INTERVAL_SECONDS)  # the last scrapes include the end of the scenario
        for load in loads.values():
            load.stop()
        result = Stack(
            prometheus=prometheus,
            pushgateway=pushgateway,
            started=started,
            traffic_started=traffic_started,
            finished=time.time(),
            answered={component: dict(load.answered) for component, load in loads.items()},
        )
        log(f"queries answered: {result.answered}")
        yield result


@contextmanager
def local_dependencies(folder: Path) -> Iterator[tuple[str, str]]:
    """PostgreSQL + pgvector (pgserver) and S3 + SQS (moto) for a stack outside pytest: ``(dsn, moto_url)``.

    (The tests use the session fixtures ``postgres_dsn`` and ``moto_url`` of ``tests/conftest.py``.)
    """
    from faro_workloads.aws_resources import MotoServer

    moto = MotoServer(free_port(), log_path=folder / "moto.log")
    with temporary_postgres() as dsn:
        try:
            moto.start()
            yield dsn, moto.url
        finally:
            moto.stop()
