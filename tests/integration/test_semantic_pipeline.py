"""The semantic chunking strategy end to end on the real stores: uploads are cut by the pipeline's own model
(the sentence windows it is sent, counted as the strategy's extra cost), both backends answer from the
semantic chunks, and an unchanged re-upload costs no embedding at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from faro_workloads.contract.settings import ChunkingConfig
from faro_workloads.core.metrics import SENTENCE_EMBEDDINGS
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.data_plane import DataPlane

from support.handbook import RecordingEmbedder, draining_plane
from support.polling import wait_for

pytestmark = pytest.mark.integration

DIMENSION = 32
GUIDE = (Path(__file__).resolve().parents[2] / "examples" / "docs" / "dual-write.md").read_text()


@pytest.fixture
def semantic_plane(pg_store_factory, qdrant_store_factory) -> Iterator[tuple[DataPlane, RecordingEmbedder]]:
    """A pipeline chunking semantically (characters as tokens, no context), and the model it embeds with."""
    model = RecordingEmbedder(dimension=DIMENSION)
    pg: PgVectorStore = pg_store_factory(dimension=DIMENSION)
    chunking = ChunkingConfig(strategy="semantic", tokenizer="chars", size=120, overlap=16, context="none")
    with draining_plane(pg, qdrant_store_factory(pg.collection), model, chunking) as plane:
        yield plane, model


def test_uploads_are_cut_by_meaning_and_answered_from_both_stores(
    semantic_plane: tuple[DataPlane, RecordingEmbedder],
) -> None:
    plane, model = semantic_plane
    before = SENTENCE_EMBEDDINGS._value.get()
    with TestClient(plane.api()) as client:
        files = {"file": ("dual-write.md", GUIDE.encode(), "text/markdown")}
        assert client.post("/v1/documents", files=files).status_code in (200, 201)
        sentences = SENTENCE_EMBEDDINGS._value.get() - before
        chunks = plane.pg.count()
        assert sentences > chunks > 1  # a sentence window each, more than the chunks they were cut into
        assert len(model.sent) == sentences + chunks  # the model saw the windows, then the chunks
        wait_for(lambda: plane.qdrant.count() == chunks, what="qdrant to follow")

        for backend in ("qdrant", "postgres"):
            answer = client.post("/v1/query", json={"query": "outbox drainer", "backend": backend}).json()
            assert answer["backend"] == backend and answer["hits"], answer
            assert {hit["metadata"]["strategy"] for hit in answer["hits"]} == {"semantic"}
            for hit in answer["hits"]:
                assert hit["text"] in GUIDE

        sent = len(model.sent)
        assert client.post("/v1/documents", files=files).status_code == 200  # unchanged
        assert len(model.sent) == sent
        assert SENTENCE_EMBEDDINGS._value.get() - before == sentences
