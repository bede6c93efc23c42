"""The documents a command line names, and their ids: a folder's files by their path below it (hidden
files and other types left out), a file named directly by its name, one file named twice once."""

from __future__ import annotations

from pathlib import Path

import pytest

from faro_workloads.document_files import find_document_files, skipped_note


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in ("c1/x.md", "c2/x.md", "c2/sub/y.txt", "c2/.hidden/z.md", "c2/notes.pdf"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("words")
    return tmp_path


def test_ids_are_paths_below_a_folder_or_a_files_name(tree: Path) -> None:
    by_id = {item.doc_id: item.path for item in find_document_files([tree / "c2"])}
    assert by_id == {"x.md": tree / "c2" / "x.md", "sub/y.txt": tree / "c2" / "sub" / "y.txt"}
    assert [item.doc_id for item in find_document_files([tree / "c1" / "x.md"])] == ["x.md"]


def test_one_file_named_twice_is_one_document(tree: Path) -> None:
    found = find_document_files([tree / "c1", tree / "c1" / "x.md"])
    assert [(item.doc_id, item.path) for item in found] == [("x.md", tree / "c1" / "x.md")]


def test_two_files_with_one_id_are_both_listed_for_the_caller_to_refuse_the_second(tree: Path) -> None:
    """``faro ingest`` and ``faro local --docs`` report the second as given twice (tests/integration)."""
    found = find_document_files([tree / "c1", tree / "c2"])
    assert [(item.doc_id, item.path.relative_to(tree).as_posix()) for item in found] == [
        ("x.md", "c1/x.md"),
        ("sub/y.txt", "c2/sub/y.txt"),
        ("x.md", "c2/x.md"),
    ]


def test_files_of_other_types_below_a_folder_are_counted_for_a_note(tree: Path) -> None:
    (tree / "c2" / "data.json").write_text("{}")
    skipped: list[Path] = []
    find_document_files([tree / "c2"], skipped)
    assert sorted(path.name for path in skipped) == ["data.json", "notes.pdf"]  # not the hidden one
    assert skipped_note(skipped).startswith("skipped 2 files of other types (.json, .pdf): Faro reads .htm,")
    assert skipped_note([]) == ""
