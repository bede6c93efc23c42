"""Decoding uploads, detecting formats and turning HTML into the canonical text."""

from __future__ import annotations

from pathlib import Path

import pytest

from faro_workloads.core.text_extraction import (
    UnsupportedDocument,
    decode_document,
    detect_format,
    extract_text,
    html_to_text,
)

DATA = Path(__file__).parent.parent / "data"
PNG_HEADER = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00"


def test_decode_strips_bom_and_normalises_line_ends() -> None:
    assert decode_document("\ufeffcafé\r\nline two\rthree\n".encode()) == "café\nline two\nthree\n"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "document is empty"),
        (b" \n\t \r\n ", r"document is empty \(only whitespace\)"),
        (b"\xef\xbb\xbf", "document is empty"),  # only a BOM
        (PNG_HEADER, r"document looks binary \(NUL bytes\)"),
        (b"text\x00with a NUL", r"document looks binary \(NUL bytes\)"),
        (b"\xff\xfe\x00a", r"document is not valid UTF-8 \(it starts with a UTF-16 byte-order mark\)"),
        (b"caf\xe9 au lait", r"document is not valid UTF-8 \(byte 0xe9 at offset 3\)"),
        (b"ok\n" + bytes(range(1, 9)) * 4, r"document looks binary \(\d+% control characters\)"),
    ],
)
def test_decode_rejects(data: bytes, message: str) -> None:
    with pytest.raises(UnsupportedDocument, match=f"^{message}"):
        decode_document(data)


def test_decode_accepts_a_few_control_characters() -> None:
    log = b"\x1b[32mOK\x1b[0m all services started, listening on port 8080 for requests\n"
    assert decode_document(log).startswith("\x1b[32mOK")


def test_extract_text_checks_str_input() -> None:
    with pytest.raises(UnsupportedDocument, match="NUL"):
        extract_text("a\x00b", "text")
    with pytest.raises(UnsupportedDocument, match="empty"):
        extract_text("   ", "markdown")
    assert extract_text("# Title\r\n\r\nBody", "markdown") == "# Title\n\nBody"


def test_extract_text_html_without_visible_text() -> None:
    with pytest.raises(UnsupportedDocument, match="no visible text"):
        extract_text(b"<html><head><title>T</title></head><body><script>x()</script></body></html>", "html")


def test_extract_text_keeps_plain_text_as_is() -> None:
    text = "  indented first line\n\nsecond paragraph  \n"
    assert extract_text(text.encode(), "text") == text


@pytest.mark.parametrize(
    ("filename", "content_type", "expected"),
    [
        ("guide.md", None, "markdown"),
        ("docs/GUIDE.Markdown", None, "markdown"),
        ("page.html", None, "html"),
        ("page.HTM", "application/octet-stream", "html"),
        ("notes.txt", "text/html", "text"),  # a known extension wins
        (None, "text/html; charset=utf-8", "html"),
        ("upload", "text/markdown", "markdown"),
        (None, "text/plain", "text"),
        ("archive.tar.gz", None, "text"),
        (None, None, "text"),
        (".md", None, "text"),  # a hidden file called ".md" has no extension
    ],
)
def test_detect_format(filename: str | None, content_type: str | None, expected: str) -> None:
    assert detect_format(filename, content_type) == expected


def test_html_drops_invisible_content() -> None:
    html = (
        "<html><head><title>Title</title><style>p { color: red }</style></head><body>"
        "<script>alert('x')</script><noscript>no</noscript><template><p>tpl</p></template>"
        "<svg><title>icon</title><text>svg text</text></svg><!-- comment --><p>visible</p></body></html>"
    )
    assert html_to_text(html) == "visible"


def test_html_entities_and_inline_tags() -> None:
    html = (
        "<p>Fish &amp; chips &lt;3 caf&eacute; &#8212; <b>bold</b>, <a href='#'>a   link</a>\n"
        " and <code>code</code>.</p>"
    )
    assert html_to_text(html) == "Fish & chips <3 café — bold, a link and code."


def test_html_blocks_and_line_breaks() -> None:
    html = "<div>one<p>two</p>three</div><p>four<br>five<br><br>six</p><blockquote>seven</blockquote>"
    assert html_to_text(html) == "one\n\ntwo\n\nthree\n\nfour\nfive\n\nsix\n\nseven"


def test_html_headings_lists_and_tables() -> None:
    html = (
        "<h1>Top <em>level</em></h1><h3>Deep<br>title</h3><ul><li>first</li><li>second<ol><li>inner</li></ol>"
        "</li></ul><table><tr><th>A</th><th>B</th></tr><tr><td>1</td><td>2</td></tr></table>"
    )
    assert (
        html_to_text(html) == "# Top level\n\n### Deep title\n\n- first\n\n- second\n\n- inner\n\nA B\n\n1 2"
    )


def test_html_pre_keeps_whitespace_in_a_fence() -> None:
    html = "<p>before</p><pre>\n# comment\n    indented  line\n\tx = 1\n</pre><p>after</p>"
    assert html_to_text(html) == "before\n\n```\n# comment\n    indented  line\n\tx = 1\n```\n\nafter"
    with_backticks = html_to_text("<pre>```\ncode\n```</pre>")
    assert with_backticks == "````\n```\ncode\n```\n````"


def test_html_no_runs_of_blank_lines() -> None:
    html = "<div><p>a</p><p></p><div><br><br><br></div><p>&nbsp;</p><p>b</p></div>"
    assert html_to_text(html) == "a\n\nb"


def test_html_deeply_nested_tree() -> None:
    depth = 5000
    assert html_to_text("<span>" * depth + "deep" + "</span>" * depth) == "deep"
    assert html_to_text("<div>" * depth + "deep" + "</div>" * depth) == "deep"


def test_html_document_fixture() -> None:
    text = extract_text((DATA / "install_guide.html").read_bytes(), "html")
    assert "title is not text" not in text and "not text" not in text
    assert "\n# Install\n" in text and "\n## On Debian\n" in text and "\n### Troubleshooting\n" in text
    assert "Python 3.11" in text.replace("\xa0", " ")
    assert "```\n# this is a shell comment, not a heading\nsudo apt-get" in text
    assert "- PostgreSQL 16 with pgvector\n\n- Qdrant 1.12 or newer" in text
    assert "check the logs.\nThey live in /var/log/postgresql." in text
    assert "\n\n\n" not in text and text == text.strip()
