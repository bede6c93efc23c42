"""Finding the documents in folders given on a command line, with the ids Faro gives them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from faro_workloads.core.documents import doc_id_from_path

DOCUMENT_SUFFIXES = frozenset({".md", ".markdown", ".txt", ".text", ".html", ".htm", ".rst"})
READ_SUFFIXES = ", ".join(sorted(DOCUMENT_SUFFIXES))
"""The file types read from a folder, as messages name them."""


@dataclass(frozen=True, slots=True)
class DocumentFile:
    path: Path
    doc_id: str


def find_document_files(paths: list[Path], skipped: list[Path] | None = None) -> list[DocumentFile]:
    """Files named directly, plus documents found below folders (hidden files skipped; files of other types
    below a folder are added to ``skipped`` when it is given, for the caller to say so).

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
            elif skipped is not None:
                skipped.append(path)
    return list(found.values())


def skipped_note(skipped: list[Path]) -> str:
    """One line on the files of other types left out (empty when none were)."""
    if not skipped:
        return ""
    kinds = sorted({path.suffix.lower() or "no suffix" for path in skipped})
    count = f"{len(skipped)} file" if len(skipped) == 1 else f"{len(skipped)} files"
    return f"skipped {count} of other types ({', '.join(kinds)}): Faro reads {READ_SUFFIXES}"
