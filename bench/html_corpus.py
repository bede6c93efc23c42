"""The HTML corpus of the chunking benchmark: pages nobody in this project wrote.

By default it is the HTML documentation of Python 3.11 as Debian packages it (``python3.11-doc``), fetched
once with ``apt-get download`` (no root needed) and unpacked with ``dpkg-deb -x`` into
``${FARO_CACHE:-~/.cache/faro}/bench/``. Any directory of ``.html`` files can stand in for it (``--corpus``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "python3.11-doc"
HTML_ROOT = Path("usr/share/doc/python3.11/html")
_EXTRACTED_STAMP = ".extracted"
_DOWNLOAD_TIMEOUT_SECONDS = 600


class CorpusError(RuntimeError):
    """The corpus could not be fetched or read; the message is one readable line."""


@dataclass(frozen=True, slots=True)
class Page:
    """One HTML file: its path relative to the corpus directory, and its bytes."""

    name: str
    data: bytes


def cache_dir() -> Path:
    """Where benchmarks keep what they download: ``${FARO_CACHE:-~/.cache/faro}/bench``."""
    return Path(os.environ.get("FARO_CACHE", "~/.cache/faro")).expanduser() / "bench"


def debian_doc_dir(package: str = PACKAGE, html_root: Path = HTML_ROOT) -> Path:
    """The HTML directory ``html_root`` of the Debian package ``package`` (default: ``python3.11-doc``),
    downloaded and unpacked on first use."""
    target = cache_dir() / package
    if (target / _EXTRACTED_STAMP).is_file():
        return target / html_root
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        _run(["apt-get", "download", package], Path(scratch), package)
        debs = sorted(Path(scratch).glob(f"{package}_*.deb"))
        if not debs:
            raise CorpusError(f"apt-get download {package} produced no .deb file in {scratch}")
        shutil.rmtree(target, ignore_errors=True)
        _run(["dpkg-deb", "-x", str(debs[0]), str(target)], Path(scratch), package)
    if not (target / html_root).is_dir():
        raise CorpusError(f"{debs[0].name} holds no {html_root} directory")
    (target / _EXTRACTED_STAMP).write_text(debs[0].name)
    return target / html_root


def package_file(package: str) -> str:
    """The name of the ``.deb`` file ``package`` was unpacked from (its version), once downloaded."""
    stamp = cache_dir() / package / _EXTRACTED_STAMP
    return stamp.read_text() if stamp.is_file() else ""


def _run(command: list[str], cwd: Path, package: str) -> None:
    what = " ".join(command)
    try:
        result = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=_DOWNLOAD_TIMEOUT_SECONDS, check=False
        )
    except FileNotFoundError:
        raise CorpusError(
            f"{command[0]} is not installed: the corpus is Debian's {package} package; "
            f"pass --corpus DIR (a directory of .html files) instead"
        ) from None
    except subprocess.TimeoutExpired:
        raise CorpusError(f"{what} did not finish within {_DOWNLOAD_TIMEOUT_SECONDS} s") from None
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit status {result.returncode}"
        raise CorpusError(f"{what} failed: {reason}")


def load_pages(directory: Path, max_mb: float | None = None, max_files: int | None = None) -> list[Page]:
    """The ``.html``/``.htm`` files under ``directory`` in path order, until ``max_mb`` MB or ``max_files``
    files (the file that crosses the size budget is the last one)."""
    if not directory.is_dir():
        raise CorpusError(f"corpus directory {directory} does not exist")
    paths = sorted(
        path for path in directory.rglob("*") if path.suffix in {".html", ".htm"} and path.is_file()
    )
    pages: list[Page] = []
    total = 0
    for path in paths:
        if max_files is not None and len(pages) >= max_files:
            break
        if max_mb is not None and total >= max_mb * 1e6:
            break
        data = path.read_bytes()
        pages.append(Page(str(path.relative_to(directory)), data))
        total += len(data)
    if not pages:
        raise CorpusError(f"no .html files in {directory}")
    return pages
