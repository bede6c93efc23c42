"""A linear pre-scan of HTML that bounds the work of parsing it, before the parser runs.

HTML parsers build the tree in time that grows faster than linearly with nesting (lexbor: 10k unclosed
``<div>`` 0.2 s, 40k 2.4 s, 80k 19 s), so one small upload can hold a CPU for minutes.
:func:`check_html_shape` walks the tags once, keeping a stack of open elements with the implied end
tags that matter for depth (void elements, ``<p>``, list items, table cells, self-closing tags inside SVG
and MathML), and refuses a document whose nesting or element count passes the limits. It errs towards the
depth a browser would build: an estimate, not a parse, made in one pass with no backtracking.
"""

from __future__ import annotations

import re

from faro_workloads.core.document_errors import DocumentTooComplex

# Chromium's parser stops nesting at 512 levels; real pages stay far below.
DEFAULT_MAX_DEPTH = 512
# About four times the elements of the largest single-page manuals Faro was tried on.
DEFAULT_MAX_ELEMENTS = 250_000

_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param",
     "source", "track", "wbr", "basefont", "bgsound", "frame", "image"}
)  # fmt: skip
# Elements whose content is text up to their own end tag: no tags inside count.
_RAW_TEXT = frozenset({"script", "style", "textarea", "title", "xmp", "noembed", "noframes", "iframe"})
_FOREIGN = frozenset({"svg", "math"})
# Opening one of these closes an open <p> (the HTML "close a p element" rule), as does another <p>.
_CLOSES_P = frozenset(
    {"address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div", "dl",
     "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
     "hgroup", "hr", "li", "main", "menu", "nav", "ol", "p", "pre", "section", "summary", "table", "ul",
     "dd", "dt", "listing", "plaintext"}
)  # fmt: skip
# An element that closes the nearest open element of the first names, with all inside it, unless one of the
# scope names is nearer (a new list inside a list item starts its own siblings).
_SIBLINGS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "li": (frozenset({"li"}), frozenset({"ul", "ol", "menu"})),
    "dt": (frozenset({"dt", "dd"}), frozenset({"dl"})),
    "dd": (frozenset({"dt", "dd"}), frozenset({"dl"})),
    "tr": (frozenset({"tr"}), frozenset({"table", "tbody", "thead", "tfoot"})),
    "td": (frozenset({"td", "th"}), frozenset({"tr", "table"})),
    "th": (frozenset({"td", "th"}), frozenset({"tr", "table"})),
    "option": (frozenset({"option"}), frozenset({"select", "datalist", "optgroup"})),
    "optgroup": (frozenset({"optgroup"}), frozenset({"select"})),
    "tbody": (frozenset({"tbody", "thead", "tfoot"}), frozenset({"table"})),
    "thead": (frozenset({"tbody", "thead", "tfoot"}), frozenset({"table"})),
    "tfoot": (frozenset({"tbody", "thead", "tfoot"}), frozenset({"table"})),
}
_TAG_NAME = re.compile(r"</?([A-Za-z][^\s/>]*)")
# How far down the stack an end tag looks for its element; deeper mismatches are ignored, as stray.
_END_TAG_REACH = 64


def check_html_shape(
    html: str, max_depth: int = DEFAULT_MAX_DEPTH, max_elements: int = DEFAULT_MAX_ELEMENTS
) -> None:
    """Raise :class:`DocumentTooComplex` when ``html`` would nest deeper than ``max_depth`` elements or holds
    more than ``max_elements`` of them. Linear in ``len(html)``; stops at the first limit passed."""
    lowered = html.lower()
    stack: list[str] = []
    foreign = 0  # open <svg>/<math> elements: inside them, "/>" closes the element it ends
    elements = 0
    position = lowered.find("<")
    while position != -1:
        if lowered.startswith("<!--", position):
            end = lowered.find("-->", position + 4)
            if end == -1:
                return  # the rest is one comment
            position = lowered.find("<", end + 3)
            continue
        match = _TAG_NAME.match(lowered, position)
        if match is None:  # "<" in text, "<!doctype", "<?xml": not an element
            position = lowered.find("<", position + 1)
            continue
        name = match.group(1)
        close = lowered.find(">", match.end())
        if close == -1:
            return  # an unterminated tag at the end: the parser drops it
        if lowered[position + 1] == "/":
            _close(stack, name)
            if name in _FOREIGN and foreign:
                foreign -= 1
            position = lowered.find("<", close + 1)
            continue
        elements += 1
        if elements > max_elements:
            raise DocumentTooComplex(f"HTML has more than {max_elements} elements (the limit)")
        self_closing = lowered[close - 1] == "/"
        if name not in _VOID and not (self_closing and (foreign or name in _FOREIGN)):
            _open(stack, name)
            if name in _FOREIGN:
                foreign += 1
            if len(stack) > max_depth:
                raise DocumentTooComplex(f"HTML nests elements deeper than {max_depth} levels (the limit)")
        position = close + 1
        if name in _RAW_TEXT and not self_closing:
            _close(stack, name)
            end = lowered.find(f"</{name}", position)
            close = -1 if end == -1 else lowered.find(">", end)
            if close == -1:
                return  # raw text to the end of the document
            position = close + 1
        position = lowered.find("<", position)


def _open(stack: list[str], name: str) -> None:
    if name in _CLOSES_P and stack and stack[-1] == "p":
        stack.pop()
    siblings = _SIBLINGS.get(name)
    if siblings is not None:
        closes, scope = siblings
        for index in range(len(stack) - 1, max(-1, len(stack) - 1 - _END_TAG_REACH), -1):
            if stack[index] in scope:
                break
            if stack[index] in closes:
                del stack[index:]
                break
    stack.append(name)


def _close(stack: list[str], name: str) -> None:
    for index in range(len(stack) - 1, max(-1, len(stack) - 1 - _END_TAG_REACH), -1):
        if stack[index] == name:
            del stack[index:]
            return
