"""Finding the documents in folders given on a command line, with the ids Faro gives them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from faro_workloads.core.documents import doc_id_from_path

DOCUMENT_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".text", ".html", ".htm", ".rst"})


@dataclass(frozen=True, slots=True)
class DocumentFile:
    path: Path
    doc_id: str


def find_document_files(paths: list[Path]) -> list[DocumentFile]:
    """Files named directly, plus documents found below folders (hidden files skipped).

    A file found in a folder gets its path relative to that folder as id (``guides/setup.md``); a file
    named directly gets its file name. Raises FileNotFoundError for a path that does not exist.
    """
    found: dict[Path, DocumentFile] = {}
    for root in paths:
        if not root.exists():
            raise FileNotFoundError(f"no such file or folder: {root}")
        if root.is_file():
            found.setdefault(root.resolve(), DocumentFile(root, doc_id_from_path(root.name)))
            continue
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if not path.is_file() or any(part.startswith(".") for part in relative.parts):
                continue
            if path.suffix.lower() in DOCUMENT_SUFFIXES:
                found.setdefault(path.resolve(), DocumentFile(path, doc_id_from_path(relative.as_posix())))
    return list(found.values())
