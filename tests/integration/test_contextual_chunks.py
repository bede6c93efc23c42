"""Contextual chunks on the real stores, through the documents and query API: an HTML upload keeps its
<title> as metadata, the model is sent each chunk's title, its document's lead and its heading path before
its text, the stores keep
the chunk's own text with the context beside it, and both backends return it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from faro_workloads.contract.settings import ChunkingConfig
from faro_workloads.core.documents import CONTEXT_KEY
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.data_plane import DataPlane

from support.handbook import RecordingEmbedder, draining_plane
from support.polling import wait_for

pytestmark = pytest.mark.integration

DIMENSION = 32
PAGE = """<html><head><title>Write-Ahead Logging</title></head><body>
<h1>1. Overview</h1><p>The default method of atomic commit is a rollback journal.</p>
<h2>1.1 Checkpointing</h2><p>A checkpoint moves the WAL content back into the database file.</p>
</body></html>"""


@pytest.fixture
def model() -> RecordingEmbedder:
    return RecordingEmbedder(dimension=DIMENSION)


@pytest.fixture
def plane(pg_store_factory, qdrant_store_factory, model: RecordingEmbedder) -> Iterator[DataPlane]:
    pg: PgVectorStore = pg_store_factory(dimension=DIMENSION)
    chunking = ChunkingConfig(strategy="recursive", tokenizer="chars", size=20, overlap=0)
    with draining_plane(pg, qdrant_store_factory(pg.collection), model, chunking) as data_plane:
        yield data_plane


def test_an_html_upload_is_embedded_with_its_title_and_headings_and_returned_with_its_own_text(
    plane: DataPlane, model: RecordingEmbedder
) -> None:
    with TestClient(plane.api()) as client:
        files = {"file": ("wal.html", PAGE.encode(), "text/html")}
        assert client.post("/v1/documents", files=files).status_code in (200, 201)
        stored = client.get("/v1/documents/wal.html").json()
        assert stored["metadata"]["title"] == "Write-Ahead Logging"
        lead = "The default method of atomic commit is a rollback journal."  # the first paragraph
        context = f"Write-Ahead Logging > {lead} > 1. Overview > 1.1 Checkpointing"
        assert any(text.startswith(f"{context}\n\nA checkpoint moves") for text in model.sent)
        wait_for(lambda: plane.qdrant.count() == plane.pg.count(), what="qdrant to follow")

        for backend in ("qdrant", "postgres"):
            body = {
                "query": "checkpoint moves WAL content",
                "top_k": 5,
                "backend": backend,
                "max_per_document": 0,
            }
            hits = client.post("/v1/query", json=body).json()["hits"]
            checkpoint = next(hit for hit in hits if "checkpoint" in hit["text"])
            assert checkpoint["text"].startswith("A checkpoint moves")
            assert checkpoint["metadata"][CONTEXT_KEY] == context
            assert checkpoint["metadata"]["title"] == "Write-Ahead Logging"

        sent = len(model.sent)
        again = client.post("/v1/documents", files={"file": ("wal.html", PAGE.encode(), "text/html")})
        assert again.json()["status"] == "unchanged" and len(model.sent) == sent
