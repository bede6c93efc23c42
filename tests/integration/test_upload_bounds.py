"""No upload can hold a service: pathological documents are refused with a reason, extraction runs in worker
processes under a deadline, and the server keeps answering while one is processed. Real uvicorn on
loopback over pgserver PostgreSQL + qdrant-client local mode."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest
from prometheus_client import REGISTRY

from faro_workloads.background_server import BackgroundServer, free_port
from faro_workloads.contract.settings import ChunkingConfig, IngestConfig
from faro_workloads.core.chunking import max_chars
from faro_workloads.core.document_errors import DocumentTooComplex
from faro_workloads.core.embedding.hashing import HashingEmbedder
from faro_workloads.core.extraction_pool import ExtractionPool
from faro_workloads.data_plane import DataPlane

pytestmark = pytest.mark.integration

ServerFactory = Callable[[IngestConfig], str]


@pytest.fixture
def serve(pg_store_factory, qdrant_store_factory) -> Iterator[ServerFactory]:
    """Starts the local-mode API with the given upload limits on a free loopback port; returns its URL."""
    started: list[tuple[DataPlane, BackgroundServer]] = []

    def start(limits: IngestConfig) -> str:
        pg = pg_store_factory(dimension=32)
        plane = DataPlane(
            pg,
            qdrant_store_factory(pg.collection),
            HashingEmbedder(dimension=32),
            chunking=ChunkingConfig(strategy="recursive", size=256, overlap=16),
            ingest=limits,
        )
        server = BackgroundServer(plane.api(), "127.0.0.1", free_port())
        server.start()
        started.append((plane, server))
        return server.url

    yield start
    for plane, server in started:
        server.stop()
        plane.close()


def _too_complex_count() -> float:
    return REGISTRY.get_sample_value("faro_ingest_errors_total", {"reason": "too_complex"}) or 0.0


def _upload_html(url: str, html: str, timeout: float = 120) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/documents", json={"doc_id": "page", "text": html, "format": "html"}, timeout=timeout
    )


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("<div>" * 80_000 + "x", "deeper than 512 levels"),
        ("<div/>" * 80_000 + "x", "deeper than 512 levels"),  # "/>" does not close an HTML element
        ("<b>x" * 2_000, "deeper than 512 levels"),
        ("<p>word " * 250_001, "more than 250000 elements"),
    ],
    ids=["unclosed-divs", "self-closed-divs", "unclosed-bold", "many-paragraphs"],
)
def test_pathological_html_is_refused_with_its_reason(serve: ServerFactory, html: str, reason: str) -> None:
    url = serve(IngestConfig())
    before = _too_complex_count()
    response = _upload_html(url, html)
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]
    assert _too_complex_count() == before + 1
    assert httpx.get(f"{url}/v1/documents/page").status_code == 404  # nothing half-stored


def test_deep_but_legal_html_within_the_limits_is_indexed(serve: ServerFactory) -> None:
    url = serve(IngestConfig())
    nested_lists = "<ul><li>level" * 200 + "</li></ul>" * 200
    table = "<table>" + "<tr><td>cell<td>more" * 5_000 + "</table>"
    svg = "<svg>" + "<path d='M0 0'/>" * 5_000 + "</svg>"
    html = f"<html><body><h1>Title</h1>{nested_lists}{table}{svg}<p>closing words</p></body></html>"
    response = _upload_html(url, html)
    assert response.status_code == 201, response.text
    assert response.json()["chunks"] >= 1


def test_extraction_past_its_deadline_is_stopped_and_refused(serve: ServerFactory) -> None:
    """A document within the structural limits whose extraction outlasts the deadline: the worker process
    is killed, the upload refused, and the next upload is served by a fresh worker."""
    url = serve(IngestConfig(max_html_elements=10_000_000, extraction_timeout_seconds=0.05))
    before = _too_complex_count()
    response = _upload_html(url, "<p>word " * 300_000)
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "text extraction took longer than 0.05 s (the limit)"
    assert _too_complex_count() == before + 1


def test_server_answers_while_an_upload_is_being_extracted(serve: ServerFactory) -> None:
    """/healthz and a query answer while a heavy upload is in flight, i.e. the event loop is free."""
    url = serve(IngestConfig(max_html_elements=10_000_000, extraction_timeout_seconds=120))
    body = json.dumps({"doc_id": "heavy", "text": "<p>word " * 200_000, "format": "html"})
    done = threading.Event()
    result: list[httpx.Response] = []

    def upload() -> None:
        result.append(
            httpx.post(
                f"{url}/v1/documents",
                content=body,
                headers={"content-type": "application/json"},
                timeout=300,
            )
        )
        done.set()

    uploader = threading.Thread(target=upload)
    uploader.start()
    answered_in_flight = 0
    try:
        while not done.is_set():
            health = httpx.get(f"{url}/healthz", timeout=2)  # a hang detector, not a speed check
            assert health.status_code == 200
            if not done.is_set():
                answered_in_flight += 1
            query = httpx.post(f"{url}/v1/query", json={"query": "word"}, timeout=5)
            assert query.status_code == 200, query.text
            done.wait(0.1)
    finally:
        uploader.join(timeout=300)
    assert answered_in_flight >= 3, "the upload finished before the server could be probed"
    assert result[0].status_code == 201, result[0].text


def test_a_long_unbroken_run_is_stored_as_bounded_chunks(serve: ServerFactory) -> None:
    """A 2 MB run of one letter (one token to a WordPiece tokenizer) becomes many chunks of at most
    ``size * MAX_CHARS_PER_TOKEN`` characters, and a query never returns more than one chunk's worth."""
    url = serve(IngestConfig())
    text = "Before the blob.\n\n" + "a" * 2_000_000 + "\n\nAfter the blob."
    response = httpx.post(f"{url}/v1/documents", json={"doc_id": "blob", "text": text}, timeout=120)
    assert response.status_code == 201, response.text
    limit = max_chars(256)  # the fixture's chunk size
    assert limit == 5_120  # 20 characters a token: a chunk of the run is a few kB, not 2 MB
    assert response.json()["chunks"] >= 2_000_000 // limit
    hits = httpx.post(f"{url}/v1/query", json={"query": "aaaa", "top_k": 10}, timeout=10).json()["hits"]
    assert hits and all(len(hit["text"]) <= limit for hit in hits)


def test_a_killed_worker_is_replaced() -> None:
    """The pool itself: a timed-out task's process is replaced and later documents extract normally."""
    import asyncio

    pool = ExtractionPool(workers=1)
    fast = IngestConfig()
    slow = IngestConfig(max_html_elements=10_000_000, extraction_timeout_seconds=0.05)
    try:
        first = asyncio.run(pool.extract("<p>one</p>", "html", fast))
        with pytest.raises(DocumentTooComplex, match=r"took longer than 0\.05 s"):
            asyncio.run(pool.extract("<p>word " * 300_000, "html", slow))
        after = asyncio.run(pool.extract(b"<h1>Two</h1><p>still works</p>", "html", fast))
    finally:
        pool.close()
    assert first.text == "one"
    assert after.text == "# Two\n\nstill works"
