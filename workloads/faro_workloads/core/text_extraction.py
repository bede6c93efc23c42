"""From uploaded bytes to the canonical text of a document.

The string :func:`extract_text` returns is THE text of a document version: it is hashed, chunked and
stored, and every chunk span indexes into it. HTML is turned into plain text with Markdown heading lines
(``## Title``), ``- `` list items and fenced ``<pre>`` blocks, so the markdown chunker keeps heading paths
for HTML too. :func:`extract_document` also gives the document's title (HTML's ``<title>``), which is not
part of the text: uploads keep it as the document's ``title`` metadata.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from selectolax.lexbor import LexborHTMLParser, LexborNode

from faro_workloads.core.document_errors import DocumentTooComplex, UnsupportedDocument
from faro_workloads.core.documents import normalise_text
from faro_workloads.core.html_shape import DEFAULT_MAX_DEPTH, DEFAULT_MAX_ELEMENTS, check_html_shape

__all__ = [
    "DocumentTooComplex",
    "ExtractedDocument",
    "SourceFormat",
    "UnsupportedDocument",
    "decode_document",
    "detect_format",
    "extract_document",
    "extract_text",
    "html_to_text",
]

SourceFormat = Literal["text", "markdown", "html"]

MAX_TITLE_CHARS = 300
"""A title longer than this is cut (it is metadata and the context of every chunk, not content)."""

# A document whose share of control characters (other than tab, newlines, form feed) exceeds this is binary.
MAX_CONTROL_SHARE = 0.10

_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F])
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

_EXTENSIONS: dict[str, SourceFormat] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".txt": "text",
    ".text": "text",
}
_CONTENT_TYPES: dict[str, SourceFormat] = {
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/plain": "text",
}


def decode_document(data: bytes) -> str:
    """Decode uploaded bytes as UTF-8 (a BOM is dropped) into normalised text, or raise
    :class:`UnsupportedDocument` for empty, binary or non-UTF-8 input."""
    if not data:
        raise UnsupportedDocument("document is empty")
    if data.startswith(_UTF16_BOMS):
        raise UnsupportedDocument("document is not valid UTF-8 (it starts with a UTF-16 byte-order mark)")
    if b"\x00" in data:
        raise UnsupportedDocument("document looks binary (NUL bytes)")
    try:
        text = normalise_text(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UnsupportedDocument(
            f"document is not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})"
        ) from None
    _check_text(text, controls=len(data) - len(data.translate(None, _CONTROL_BYTES)))
    return text


def _check_text(text: str, controls: int | None = None) -> None:
    """Reject text that is empty, holds NUL (PostgreSQL text cannot) or is mostly control characters."""
    if "\x00" in text:
        raise UnsupportedDocument("document contains NUL characters, which cannot be stored as text")
    if not text or text.isspace():
        raise UnsupportedDocument("document is empty (only whitespace)" if text else "document is empty")
    if controls is None:
        controls = len(_CONTROL_CHARS.findall(text))
    if controls > MAX_CONTROL_SHARE * len(text):
        raise UnsupportedDocument(
            f"document looks binary ({100 * controls // len(text)}% control characters)"
        )


def detect_format(filename: str | None, content_type: str | None) -> SourceFormat:
    """The source format from a file name's extension, else from a content type, else ``"text"``."""
    if filename:
        name = filename.rsplit("/", 1)[-1].lower()
        dot = name.rfind(".")
        if dot > 0 and name[dot:] in _EXTENSIONS:
            return _EXTENSIONS[name[dot:]]
    if content_type:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type in _CONTENT_TYPES:
            return _CONTENT_TYPES[media_type]
    return "text"


@dataclass(frozen=True, slots=True)
class ExtractedDocument:
    """A document's canonical text, and its title when the format states one ("" otherwise)."""

    text: str
    title: str = ""

    def metadata_with_title(self, metadata: Mapping[str, Any]) -> dict[str, Any]:
        """``metadata`` with this title as ``title``, unless it names one itself (or there is none)."""
        if not self.title or "title" in metadata:
            return dict(metadata)
        return {"title": self.title, **metadata}


def extract_document(
    data: bytes | str,
    fmt: SourceFormat,
    max_html_depth: int = DEFAULT_MAX_DEPTH,
    max_html_elements: int = DEFAULT_MAX_ELEMENTS,
) -> ExtractedDocument:
    """The canonical text of a document, decoded, normalised and, for HTML, converted to text; with the
    HTML's ``<title>``.

    Raises :class:`UnsupportedDocument` when there is no text to keep, and its subclass
    :class:`DocumentTooComplex` for HTML that nests or branches past the limits (checked before parsing).
    """
    if isinstance(data, bytes):
        text = decode_document(data)
    else:
        text = normalise_text(data)
        _check_text(text)
    if fmt != "html":
        return ExtractedDocument(text)
    check_html_shape(text, max_html_depth, max_html_elements)
    text, title = _html_document(text)
    if not text:
        raise UnsupportedDocument("document has no visible text (HTML without text content)")
    return ExtractedDocument(text, title)


def extract_text(
    data: bytes | str,
    fmt: SourceFormat,
    max_html_depth: int = DEFAULT_MAX_DEPTH,
    max_html_elements: int = DEFAULT_MAX_ELEMENTS,
) -> str:
    """The canonical text of a document (:func:`extract_document` without the title)."""
    return extract_document(data, fmt, max_html_depth, max_html_elements).text


# --- HTML -----------------------------------------------------------------------------------------------

_SKIPPED_TAGS = frozenset(
    {"script", "style", "noscript", "template", "head", "svg", "iframe", "object", "canvas"}
)
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
        "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
        "header", "hgroup", "hr", "html", "legend", "li", "main", "menu", "nav", "ol", "p", "pre",
        "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip
_HEADING_LEVELS = {f"h{level}": level for level in range(1, 7)}
_CELL_TAGS = frozenset({"td", "th"})
_STRUCTURE_TAGS = frozenset({*_BLOCK_TAGS, *_HEADING_LEVELS, *_CELL_TAGS})
_HTML_SPACE = re.compile(r"[ \t\n\r\f]+")
_BLANK_LINE_RUNS = re.compile(r"\n(?:[^\S\n]*\n)+")
_BACKTICK_RUNS = re.compile(r"`{3,}")


class _TextWriter:
    """Accumulates the text of an HTML tree: collapsed inline whitespace, block and line breaks owed
    until the next visible text, and a prefix (``- `` or ``## ``) for the next text of a block."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.breaks = 0  # newlines owed before the next text (at most 2: one blank line)
        self.space = False  # a space owed before the next text
        self.prefix = ""
        self.heading_depth = 0

    def block_break(self) -> None:
        if self.heading_depth:
            self.space = True
        else:
            self.breaks = 2

    def line_break(self) -> None:
        if self.heading_depth:
            self.space = True
        else:
            self.breaks = min(self.breaks + 1, 2)

    def text(self, raw: str) -> None:
        if not raw.strip():  # about half of all text nodes: the whitespace between tags
            self.space = self.space or bool(raw)
            return
        collapsed = _HTML_SPACE.sub(" ", raw)
        if collapsed[0] == " ":
            self.space = True
        self._begin()
        self.parts.append(collapsed.strip(" "))
        self.space = collapsed[-1] == " "

    def preformatted(self, raw: str) -> None:
        if self.heading_depth:
            self.text(raw)
            return
        lines = [line.rstrip() for line in raw.split("\n")]
        body = _BLANK_LINE_RUNS.sub("\n\n", "\n".join(lines)).strip("\n")
        if not body.strip():
            return
        runs = _BACKTICK_RUNS.findall(body)
        fence = "`" * (max(len(run) for run in runs) + 1 if runs else 3)
        self.block_break()
        self._begin()
        self.parts.append(f"{fence}\n{body}\n{fence}")
        self.block_break()

    def _begin(self) -> None:
        if self.parts:
            if self.breaks:
                self.parts.append("\n" * self.breaks)
            elif self.space:
                self.parts.append(" ")
        if self.prefix:
            self.parts.append(self.prefix)
            self.prefix = ""
        self.breaks = 0
        self.space = False

    def result(self) -> str:
        return "".join(self.parts)


def html_to_text(html: str) -> str:
    """Visible text of an HTML document: blocks separated by blank lines, ``<br>`` as a newline,
    headings as Markdown heading lines, list items as ``- `` lines, ``<pre>`` as fenced code with its
    whitespace kept, other whitespace collapsed, entities decoded; no ``<title>``, scripts or styles."""
    return _html_document(html)[0]


def _html_document(html: str) -> tuple[str, str]:
    """:func:`html_to_text` and the ``<title>`` (whitespace collapsed, at most :data:`MAX_TITLE_CHARS`)."""
    parser = LexborHTMLParser(html)
    title_node = parser.css_first("title")
    title = " ".join(title_node.text().split())[:MAX_TITLE_CHARS] if title_node is not None else ""
    return _visible_text(parser.root), title


def _visible_text(root: LexborNode | None) -> str:
    if root is None:
        return ""
    writer = _TextWriter()
    # (node, leaving): an explicit stack instead of recursion, so deep trees cannot overflow.
    stack: list[tuple[LexborNode, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        tag = node.tag or ""
        if leaving:
            _leave(writer, tag)
            continue
        if tag == "-text":
            writer.text(node.text_content or "")
            continue
        if tag.startswith(("-", "!")) or tag in _SKIPPED_TAGS:
            continue  # comments, doctype, invisible elements
        if tag == "br":
            writer.line_break()
            continue
        if tag == "pre":
            writer.preformatted(node.text(deep=True, separator="", strip=False))
            continue
        if tag in _STRUCTURE_TAGS:  # inline elements (span, a, code, ...) need neither enter nor leave
            _enter(writer, tag)
            stack.append((node, True))
        child = node.last_child
        while child is not None:
            stack.append((child, False))
            child = child.prev
    text = normalise_text(writer.result())
    return _BLANK_LINE_RUNS.sub("\n\n", text).strip()


def _enter(writer: _TextWriter, tag: str) -> None:
    level = _HEADING_LEVELS.get(tag)
    if level is not None:
        writer.block_break()
        writer.prefix = "#" * level + " "
        writer.heading_depth += 1
    elif tag in _BLOCK_TAGS:
        writer.block_break()
        if tag == "li":
            writer.prefix = "- "
    elif tag in _CELL_TAGS:
        writer.space = True


def _leave(writer: _TextWriter, tag: str) -> None:
    if tag in _HEADING_LEVELS:
        writer.heading_depth -= 1
        writer.prefix = ""
        writer.block_break()
    elif tag in _BLOCK_TAGS:
        if tag == "li":
            writer.prefix = ""
        writer.block_break()
    elif tag in _CELL_TAGS:
        writer.space = True
