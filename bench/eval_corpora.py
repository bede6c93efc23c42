"""Evaluation corpora: documentation Debian ships as packages, with questions and the pages that answer them.

Each corpus is the HTML of one package, rebuilt from the package on demand (``apt-get download`` and
``dpkg-deb -x``, no root, cached in ``${FARO_CACHE:-~/.cache/faro}/bench/``). What is committed is the
corpus' definition here, its questions (``bench/eval/<name>.jsonl``: a question and the ids of the pages
that answer it, the format ``faro eval`` and the generation gate read) and its page list
(``bench/eval/<name>.pages``), so a question can be checked against the pages without the download. A
page's id is what ``faro ingest DIR`` gives the file (its path under the corpus folder).

- ``git-doc``: Git's manual (commands, concepts, how-tos, technical notes), 242 pages;
- ``sqlite3-doc``: SQLite's documentation (SQL language, C API, extensions, internals), without the
  generated cross-reference indexes and the release history.

    python -m bench.eval_corpora build git-doc --out /tmp/git-doc   # the pages as files, for faro ingest
    python -m bench.eval_corpora pages sqlite3-doc --write          # refresh bench/eval/sqlite3-doc.pages
    python -m bench.eval_corpora check                              # every answering page is in its corpus

The questions were written for this project by reading the pages; each names every page of the corpus that
answers it directly (an index page or a passing mention does not count).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.html_corpus import CorpusError, Page, debian_doc_dir, package_file
from faro_workloads.contract.golden_queries import GoldenQueries
from faro_workloads.core.documents import doc_id_from_path
from faro_workloads.core.evaluation import load_golden_queries
from faro_workloads.errors import ConfigurationError

EVAL_DIR = Path(__file__).parent / "eval"
HTML_SUFFIXES = frozenset({".html", ".htm"})


@dataclass(frozen=True, slots=True)
class EvalCorpus:
    """One package's HTML pages, less the pages and folders it leaves out."""

    name: str
    package: str
    html_root: Path
    excluded_pages: frozenset[str] = frozenset()
    excluded_folders: frozenset[str] = frozenset()

    @property
    def questions_path(self) -> Path:
        return EVAL_DIR / f"{self.name}.jsonl"

    @property
    def pages_path(self) -> Path:
        return EVAL_DIR / f"{self.name}.pages"

    def questions(self) -> GoldenQueries:
        return load_golden_queries(self.questions_path)

    def committed_page_ids(self) -> list[str]:
        """The page ids in ``bench/eval/<name>.pages`` (comment lines start with ``#``)."""
        lines = self.pages_path.read_text(encoding="utf-8").splitlines()
        return [line for line in lines if line and not line.startswith("#")]

    def keeps(self, relative: Path) -> bool:
        """Whether the file at ``relative`` (under the HTML root) is one of the corpus' pages."""
        return (
            relative.suffix in HTML_SUFFIXES
            and relative.as_posix() not in self.excluded_pages
            and not (len(relative.parts) > 1 and relative.parts[0] in self.excluded_folders)
        )

    def root(self) -> Path:
        """The package's HTML folder, downloaded and unpacked on first use."""
        return debian_doc_dir(self.package, self.html_root)

    def pages(self) -> list[Page]:
        """The corpus' pages, in id order, each named by its document id."""
        root = self.root()
        found = [
            Page(doc_id_from_path(path.relative_to(root).as_posix()), path.read_bytes())
            for path in sorted(root.rglob("*"))
            if path.is_file() and self.keeps(path.relative_to(root))
        ]
        if not found:
            raise CorpusError(f"{self.package} holds no pages under {self.html_root}")
        return sorted(found, key=lambda page: page.name)


CORPORA: dict[str, EvalCorpus] = {
    corpus.name: corpus
    for corpus in (
        EvalCorpus("git-doc", "git-doc", Path("usr/share/doc/git-doc")),
        EvalCorpus(
            "sqlite3-doc",
            "sqlite3-doc",
            Path("usr/share/doc/sqlite3"),
            # Generated indexes of every page and keyword, the one-page dumps of what c3ref/ and the
            # requirements hold page by page, and the release history: they mention everything.
            excluded_pages=frozenset(
                {
                    "capi3ref.html",
                    "changes.html",
                    "chronology.html",
                    "doc_backlink_crossref.html",
                    "doc_keyword_crossref.html",
                    "doc_pagelink_crossref.html",
                    "doc_target_crossref.html",
                    "doclist.html",
                    "keyword_index.html",
                    "news.html",
                    "oldnews.html",
                    "requirements.html",
                    "sitemap.html",
                }
            ),
            excluded_folders=frozenset({"releaselog", "syntax"}),
        ),
    )
}


def corpus_named(name: str) -> EvalCorpus:
    try:
        return CORPORA[name]
    except KeyError:
        raise CorpusError(f"no evaluation corpus {name!r}; there are: {', '.join(CORPORA)}") from None


def question_problems(golden: GoldenQueries, page_ids: Sequence[str], label: str) -> list[str]:
    """Why ``golden``'s questions do not fit ``page_ids`` (an answering page that is not one of them), or
    []; each problem is ``label:question number: ...``."""
    known = set(page_ids)
    problems = []
    for number, question in enumerate(golden.queries, start=1):
        missing = [doc_id for doc_id in question.doc_ids if doc_id not in known]
        if missing:
            problems.append(f"{label}:{number}: no page {', '.join(missing)}")
    return problems


def _build(corpus: EvalCorpus, out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        raise CorpusError(f"{out} is not empty")
    pages = corpus.pages()
    for page in pages:
        target = out / page.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(page.data)
    size = sum(len(page.data) for page in pages) / 1e6
    print(f"{corpus.name}: {len(pages)} pages ({size:.1f} MB) from {package_file(corpus.package)} in {out}")


def _pages(corpus: EvalCorpus, write: bool) -> None:
    ids = [page.name for page in corpus.pages()]
    text = f"# {package_file(corpus.package)}\n" + "".join(f"{page_id}\n" for page_id in ids)
    if write:
        corpus.pages_path.write_text(text, encoding="utf-8")
        print(f"{corpus.pages_path}: {len(ids)} pages")
    else:
        sys.stdout.write(text)


def _check(names: Sequence[str]) -> int:
    failed = 0
    for name in names:
        corpus = corpus_named(name)
        label = corpus.questions_path.name
        problems = question_problems(corpus.questions(), corpus.committed_page_ids(), label)
        for problem in problems:
            print(problem)
        failed += bool(problems)
        print(f"{name}: {len(corpus.questions().queries)} questions, {'FAILED' if problems else 'ok'}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.eval_corpora", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="write a corpus' pages into a folder")
    build.add_argument("corpus", choices=sorted(CORPORA))
    build.add_argument("--out", type=Path, required=True)
    pages = commands.add_parser("pages", help="list a corpus' page ids (from the package)")
    pages.add_argument("corpus", choices=sorted(CORPORA))
    pages.add_argument("--write", action="store_true", help=f"into {EVAL_DIR.name}/<corpus>.pages")
    check = commands.add_parser("check", help="every answering page is one of the committed pages")
    check.add_argument("corpora", nargs="*", default=sorted(CORPORA))
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            _build(corpus_named(args.corpus), args.out)
        elif args.command == "pages":
            _pages(corpus_named(args.corpus), args.write)
        else:
            return _check(args.corpora)
    except (CorpusError, ConfigurationError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
