"""A real Prometheus scraping Faro's real workloads: what the dashboards and alert rules are checked against.

Used by ``tests/integration/test_prometheus_observability.py`` and by ``scripts/render_dashboard_pngs.py``
(the README's dashboard images); a plain module like ``tests/support/kube_apiserver.py``, importable from
both.

- :class:`Pushgateway` / :class:`Prometheus` (``tests/support/prometheus_servers.py``): the Debian binaries
  (``prometheus-pushgateway``, ``prometheus``; ``scripts/install-system-deps.sh``) on 127.0.0.1 and free
  ports, each in its own folder. Prometheus scrapes every second and loads
  ``monitoring/prometheus-rules.yaml``, so the alert rules are evaluated as rules too.
- :func:`observability_stack`: everything a dashboard panel shows, running for real and scraped (Faro's
  processes: ``tests/support/observability_workloads.py``):

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

import re
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from faro_workloads.background_server import free_port

from support.observability_workloads import (
    NAMESPACE,
    OPERATOR_NAMESPACE,
    PIPELINE,
    PUSHGATEWAY_NAMESPACE,
    REPO_ROOT,
    Blackhole,
    Log,
    Workloads,
    example_documents,
)
from support.postgres import temporary_postgres
from support.prometheus_servers import (
    SCRAPE_INTERVAL_SECONDS,
    Prometheus,
    Pushgateway,
    ScrapeTarget,
    StackError,
)

RULES_FILE = REPO_ROOT / "monitoring" / "prometheus-rules.yaml"
PREFERRED_VALUES = {"namespace": (NAMESPACE, OPERATOR_NAMESPACE), "pipeline": (PIPELINE,)}
"""What a user picks for a dashboard variable here, in order: the pipeline's namespace, else (the operator's
dashboard) the operator's."""

RATE_INTERVAL = "15s"
"""What Grafana's ``$__rate_interval`` becomes here: 15 scrape intervals."""
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

        documents = example_documents()
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
