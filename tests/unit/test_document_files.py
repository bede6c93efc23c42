"""The documents a command line names, and their ids: a folder's files by their path below it, a file named
directly by its name; two files that would get one id are refused before anything is uploaded (the second
would silently replace the first)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from faro_workloads.cli import main
from faro_workloads.document_files import find_document_files
from faro_workloads.errors import InputError


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in ("c1/x.md", "c2/x.md", "c2/sub/y.txt", "c2/.hidden/z.md", "c2/notes.pdf"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("words")
    return tmp_path


def test_ids_are_paths_below_a_folder_or_a_files_name(tree: Path) -> None:
    by_id = {item.doc_id: item.path for item in find_document_files([tree / "c2"])}
    assert by_id == {
        "x.md": tree / "c2" / "x.md",
        "sub/y.txt": tree / "c2" / "sub" / "y.txt",
    }  # no .hidden, .pdf
    assert [item.doc_id for item in find_document_files([tree / "c1" / "x.md"])] == ["x.md"]


def test_one_file_named_twice_is_one_document(tree: Path) -> None:
    found = find_document_files([tree / "c1", tree / "c1" / "x.md"])
    assert [(item.doc_id, item.path) for item in found] == [("x.md", tree / "c1" / "x.md")]


def test_two_files_that_would_share_an_id_are_refused(tree: Path) -> None:
    with pytest.raises(InputError, match=r"would both be document 'x\.md'"):
        find_document_files([tree / "c1" / "x.md", tree / "c2" / "x.md"])
    with pytest.raises(InputError, match=r"would both be document 'x\.md'"):
        find_document_files([tree / "c1", tree / "c2"])
    assert len(find_document_files([tree])) == 3  # their common folder: c1/x.md, c2/x.md, c2/sub/y.txt


def test_faro_ingest_says_so_in_one_line_and_uploads_nothing(
    tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "faro",
        "ingest",
        str(tree / "c1" / "x.md"),
        str(tree / "c2" / "x.md"),
        "--url",
        "http://127.0.0.1:9",
    ]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()  # nothing uploaded: port 9 was never asked
    assert line.startswith("faro: ") and "would both be document 'x.md'" in line
