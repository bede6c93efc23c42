"""The HTML pre-scan: refuses what would nest or branch past the limits, lets real pages through."""

from __future__ import annotations

from pathlib import Path

import pytest

from faro_workloads.core.document_errors import DocumentTooComplex
from faro_workloads.core.html_shape import check_html_shape

DATA = Path(__file__).parents[1] / "data"


@pytest.mark.parametrize(
    "html",
    [
        "<div>" * 600,
        "<div/>" * 600,  # "/>" does not end an HTML element
        "<span><b>" * 300,
        "<ul><li>" * 300,  # a list inside each item nests
        "<table><tr><td>" * 200,
        "<svg>" * 600,
    ],
)
def test_nesting_past_the_limit_is_refused(html: str) -> None:
    with pytest.raises(DocumentTooComplex, match="deeper than 512 levels"):
        check_html_shape(html)


@pytest.mark.parametrize(
    "html",
    [
        "<p>para" * 5_000,  # a <p> closes the open one
        "<ul>" + "<li>item" * 5_000 + "</ul>",
        "<dl>" + "<dt>term<dd>definition" * 5_000 + "</dl>",
        "<table>" + "<tr><td>a<td>b<th>c" * 5_000 + "</table>",
        "<select>" + "<option>x" * 5_000 + "</select>",
        "<br><img src=x><hr><input>" * 5_000,  # void elements
        "<svg>" + "<circle r='1'/>" * 5_000 + "</svg>",  # self-closing inside SVG
        "<script>" + "<div>" * 5_000 + "</script>",  # raw text
        "<!--" + "<div>" * 5_000 + "-->",  # comment
        "<div>" * 500 + "</div>" * 500 + "<div>" * 500,  # closed before nesting again
        "a < b and c<d " * 5_000,  # text that only looks like tags
        "<div>" * 10 + "<div" + " x" * 5_000,  # an unterminated tag at the end
    ],
)
def test_wide_or_flat_html_passes(html: str) -> None:
    check_html_shape(html)


def test_a_real_page_passes_with_room() -> None:
    check_html_shape((DATA / "install_guide.html").read_text(), max_depth=32, max_elements=5_000)


def test_element_count_limit() -> None:
    check_html_shape("<p>x" * 100, max_elements=100)
    with pytest.raises(DocumentTooComplex, match="more than 100 elements"):
        check_html_shape("<p>x" * 101, max_elements=100)


def test_stray_end_tags_do_not_close_outer_elements() -> None:
    with pytest.raises(DocumentTooComplex):
        check_html_shape("<div>" * 20 + "</span>" * 50 + "<div>" * 20, max_depth=30)
