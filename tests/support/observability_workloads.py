"""The Faro side of the observability stack (``tests/support/observability_stack.py``): the pipeline's
processes (chunking service, embedding engines, query services, the operator on a kube-apiserver, the
consistency job), their settings and scrape targets, and the documents the scenario sends them."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

from faro_workloads.background_server import free_port
from faro_workloads.contract.access import key_digest, new_key

from support.faro_process import faro_process
from support.kube_apiserver import KubeApiServer, find_binaries, install_crds
from support.prometheus_servers import ScrapeTarget, StackError
from support.server_processes import log_tail

REPO_ROOT = Path(__file__).resolve().parents[2]
RULES_FILE = REPO_ROOT / "monitoring" / "prometheus-rules.yaml"
DOCUMENT_FOLDERS = (REPO_ROOT / "examples" / "docs", REPO_ROOT / "tests" / "data")

NAMESPACE = "faro-demo"
PIPELINE = "demo"
OPERATOR_NAMESPACE = "faro-system"
PUSHGATEWAY_NAMESPACE = "monitoring"
DIMENSION = 64
COLLECTION = "docs"
# Seconds an embedding engine gets to finish its work when stopped.
EMBEDDER_GRACE = ("--shutdown-grace", "5")
SETTLE_TIMEOUT_SECONDS = 90.0

Log = Callable[[str], None]


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


def example_documents() -> list[tuple[str, str, str]]:
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
        self.query_qdrant.mkdir(parents=True, exist_ok=True)  # the query service reads a folder, makes none
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
        keys = {
            "FARO_AUTH__KEYS_FILE": str(self.keys_file),  # its callers need a key: refusals to show
            # Service-account tokens taken too, as the operator configures a pipeline: no caller here sends
            # one, so the API server (none at this address) is never asked; the reviews panel shows zeros.
            "FARO_AUTH__SERVICE_ACCOUNTS__AUDIENCE": f"faro.dev/{NAMESPACE}/{PIPELINE}",
            "FARO_AUTH__SERVICE_ACCOUNTS__NAMESPACE": NAMESPACE,
            "FARO_AUTH__SERVICE_ACCOUNTS__API_SERVER": "https://127.0.0.1:9",
        }
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
