"""Local mode on Qdrant Edge (``local_engine: edge``): the same answers as qdrant-client's Python local mode,
a folder that keeps its collections and aliases across restarts and belongs to one process, and a clear
error for a damaged one."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from qdrant_client import models

from faro_workloads.contract.settings import CollectionConfig, QdrantConfig
from faro_workloads.core.documents import SearchHit
from faro_workloads.core.lexical import query_vector
from faro_workloads.core.search_filter import SearchFilter
from faro_workloads.core.stores.edge_client import EdgeClient, UnsupportedRequest
from faro_workloads.core.stores.qdrant import QdrantStore
from faro_workloads.core.stores.qdrant_connection import LocalDataUnreadable, open_client

pytestmark = pytest.mark.integration

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "theta",
    "kappa",
    "lambda",
    "sigma",
    "snake_case",
    "config.yaml",
]


def _corpus(make_chunks) -> list:
    """60 chunks over 12 documents; every text of its own length, so that no two BM25 scores tie (which
    tied chunk fills a search's last place is each engine's choice)."""
    chunks = []
    for d in range(12):
        metadata = {"lang": "en" if d % 2 else "de", "draft": d % 3 == 0}
        for chunk in make_chunks(f"doc-{d}", 5, metadata=metadata):
            n = d * 5 + chunk.seq
            chunk.text = " ".join(WORDS[(n + i) % len(WORDS)] for i in range(3 + n))
            chunks.append(chunk)
    return chunks


def _same(hits: list[SearchHit], expected: list[SearchHit]) -> None:
    """The same chunks in the same order, with the same payload and scores (to float32's precision: scores
    equal to 4 decimals count as a tie, in id order, since each engine rounds its sums its own way)."""

    def ranked(found: list[SearchHit]) -> list[tuple[float, str, str, str, dict]]:
        return sorted((-round(h.score, 4), str(h.id), h.doc_id, h.text, h.metadata) for h in found)

    assert ranked(hits) == ranked(expected)
    assert [h.score for h in hits] == pytest.approx([h.score for h in expected], rel=1e-4, abs=1e-5)


def _store(config: QdrantConfig, collection: CollectionConfig) -> QdrantStore:
    store = QdrantStore(config, collection)
    store.ensure_collection()
    return store


def test_edge_answers_as_the_python_engine_does(collection_config: CollectionConfig, make_chunks) -> None:
    chunks = _corpus(make_chunks)
    edge = _store(QdrantConfig(path=":memory:"), collection_config)
    python = _store(QdrantConfig(path=":memory:", local_engine="python"), collection_config)
    try:
        for store in (edge, python):
            store.upsert(chunks)
        query = make_chunks("query", 1, seed=3)[0].embedding
        words = query_vector("gamma snake_case config.yaml")
        filters = [None, SearchFilter(metadata={"lang": "en"}), SearchFilter(metadata={"draft": True})]
        filters.append(SearchFilter(doc_ids=["doc-1", "doc-2", "doc-4"], metadata={"draft": False}))
        for flt in filters:
            dense = edge.search(query, 10, flt)
            assert dense, "every filter here matches something"
            _same(dense, python.search(query, 10, flt))
            _same(edge.search_lexical(words, 10, flt), python.search_lexical(words, 10, flt))
            for edge_ranking, python_ranking in zip(
                edge.rank_both(query, words, 5, flt), python.rank_both(query, words, 5, flt), strict=True
            ):
                _same(edge.ranked_hits(edge_ranking), python.ranked_hits(python_ranking))
        _same(edge.search_grouped(query, 4, 1, 20), python.search_grouped(query, 4, 1, 20))
        ids = [c.id for c in chunks[:3]]
        assert edge.retrieve(ids).keys() == python.retrieve(ids).keys() == set(ids)
        assert edge.chunk_texts(ids) == python.chunk_texts(ids)

        # Deleted points leave every answer. (Until Qdrant vacuums them, which it does once a segment of
        # 1,000 points or more is a fifth deleted, a server and Edge still count them in the lexical IDF;
        # the Python engine does not, so scores are compared above, before any delete.)
        for store in (edge, python):
            store.delete_document("doc-4")
            assert "doc-4" not in {h.doc_id for h in store.search(query, 60)}
            assert "doc-4" not in {h.doc_id for h in store.search_lexical(words, 60)}
        assert edge.count() == python.count() == 55
        edge_ids = sorted(i for batch in edge.scroll_ids(7) for i in batch)
        assert edge_ids == sorted(i for batch in python.scroll_ids() for i in batch)
    finally:
        edge.close()
        python.close()


def test_a_folder_keeps_its_collections_and_aliases_across_a_restart(
    tmp_path: Path, collection_config: CollectionConfig, make_chunks
) -> None:
    config = QdrantConfig(path=str(tmp_path / "qdrant"))
    first = _store(config, collection_config)
    second = first.for_generation(2)
    second.ensure_collection(defer_indexing=True)
    first.upsert(make_chunks("a", 4))
    second.upsert(make_chunks("b", 3))
    second.enable_indexing()
    second.point_live_alias()
    first.close()

    again = _store(config, collection_config)
    try:
        assert again.count() == 4 and again.for_generation(2).count() == 3
        assert again.live_alias_target() == again.for_generation(2).name
        assert again.has_lexical()
        again.for_generation(2).drop()
        assert again.live_alias_target() is None  # a dropped collection takes its aliases with it
    finally:
        again.close()


def test_a_folder_another_process_holds_is_refused_in_one_line(tmp_path: Path, collection_config) -> None:
    folder = tmp_path / "qdrant"
    _store(QdrantConfig(path=str(folder)), collection_config).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys
                from faro_workloads.core.stores.edge_client import EdgeClient
                client = EdgeClient({str(folder)!r})
                print("held", flush=True)
                sys.stdin.read()
                """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LocalDataUnreadable, match=r"is in use by another process$"):
            open_client(QdrantConfig(path=str(folder)))
    finally:
        holder.communicate("", timeout=30)
    open_client(QdrantConfig(path=str(folder))).close()  # free again once the holder has gone


def test_damaged_collection_settings_are_named_in_one_line(tmp_path: Path, collection_config) -> None:
    folder = tmp_path / "qdrant"
    store = _store(QdrantConfig(path=str(folder)), collection_config)
    store.close()
    settings = folder / "edge" / "collections" / store.name / "params.json"
    settings.write_text("{half")
    with pytest.raises(LocalDataUnreadable, match=rf"{store.name} cannot be read \(") as raised:
        open_client(QdrantConfig(path=str(folder)))
    assert "\n" not in str(raised.value)


def test_memory_uses_a_temporary_folder_removed_on_close() -> None:
    client = EdgeClient(None)
    folder = client._root.parent
    client.create_collection("c", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT))
    assert (folder / "edge" / "collections" / "c").is_dir()
    client.close()
    assert not folder.exists()


def test_a_request_faro_does_not_send_is_refused_not_guessed(tmp_path: Path) -> None:
    client = EdgeClient(str(tmp_path))
    try:
        client.create_collection(
            "c", vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT)
        )
        with pytest.raises(UnsupportedRequest):
            client.upsert("c", points=[models.PointStruct(id=1, vector=[0.1, 0.2])])  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="MatchText"):
            client.query_points(
                "c",
                query=[0.1, 0.2],
                query_filter=models.Filter(
                    must=[models.FieldCondition(key="t", match=models.MatchText(text="x"))]
                ),
            )
        with pytest.raises(ValueError, match="not found"):
            client.count("missing")
    finally:
        client.close()
