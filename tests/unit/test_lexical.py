"""The lexical terms and BM25 weights of hybrid search."""

from __future__ import annotations

import math

from faro_workloads.core.lexical import (
    AVERAGE_TERMS,
    K1,
    MAX_QUERY_TERMS,
    MAX_TERMS_PER_CHUNK,
    B,
    document_vector,
    query_vector,
    term_id,
    terms,
)


def test_identifiers_flags_codes_and_versions_are_terms_whole_and_by_their_parts() -> None:
    found = terms("Call sqlite3_busy_timeout() or set core.excludesFile; git push --force-with-lease -f")
    for term in ("sqlite3_busy_timeout", "busy", "timeout", "core.excludesfile", "excludesfile"):
        assert term in found
    assert {"--force-with-lease", "force", "lease", "-f"} <= set(found)
    assert "3.40.1" in terms("fixed in 3.40.1") and "40" not in terms("fixed in 3.40.1")
    assert {"sqlite_busy", "sqlite", "busy"} <= set(terms("SQLITE_BUSY"))


def test_stop_words_go_and_plurals_fold_to_one_term() -> None:
    assert terms("How do I list the commits of these branches?") == ["list", "commit", "branch"]
    assert terms("queries indexes status analysis") == ["query", "index", "status", "analysis"]


def test_single_letters_go_and_single_digits_stay() -> None:
    assert terms("a b 7 x1 404 Error E") == ["7", "x1", "404", "error"]
    assert terms("E E7 e-7") == ["e7", "7"]  # "-7" is no flag (a digit follows the dash): the number 7


def test_term_ids_are_stable_31_bit_integers() -> None:
    assert term_id("commit") == term_id("commit") != term_id("commits")
    assert all(0 <= term_id(t) < 2**31 for t in ("", "a", "é" * 100))
    assert term_id("commit") == 1_322_528_429  # crc32: the same in every process and release


def test_a_chunks_weights_are_bm25_term_frequencies() -> None:
    vector = document_vector("WAL mode: the WAL file grows; checkpoint the WAL.")
    weights = dict(zip(vector.indices, vector.values, strict=True))
    length = len(terms("WAL mode: the WAL file grows; checkpoint the WAL."))
    norm = K1 * (1 - B + B * length / AVERAGE_TERMS)
    assert math.isclose(weights[term_id("wal")], 3 * (K1 + 1) / (3 + norm))
    assert math.isclose(weights[term_id("checkpoint")], (K1 + 1) / (1 + norm))
    assert vector.indices == sorted(vector.indices)  # PostgreSQL finds a term among them by binary search
    assert not document_vector("the and of")


def test_sizes_are_bounded() -> None:
    many = " ".join(f"word{i}x" for i in range(MAX_TERMS_PER_CHUNK + 500))
    assert len(document_vector(many).indices) == MAX_TERMS_PER_CHUNK
    query = query_vector(many)
    assert len(query.indices) == MAX_QUERY_TERMS and set(query.values) == {1.0}
    assert set(query.indices) == {term_id(f"word{i}x") for i in range(MAX_QUERY_TERMS)}
