"""The query's answers rendered by orjson read back as the standard library's rendering does, including
what orjson cannot render (an integer beyond 64 bits, kept exactly) and text outside ASCII."""

from __future__ import annotations

import json

from faro_workloads.api.json_response import FastJSONResponse


def test_an_answer_reads_back_as_the_standard_rendering() -> None:
    body = {
        "backend": "postgres",
        "took_ms": 1.25,
        "fallback_reason": None,
        "hits": [{"id": "a", "score": 0.5, "text": "naïve café — ✓", "metadata": {"n": [1, 2.5, True]}}],
    }
    rendered = FastJSONResponse(body).body
    assert json.loads(rendered) == body
    assert "naïve café — ✓".encode() in rendered  # UTF-8, not \\u escapes
    assert b" " not in rendered.replace("naïve café — ✓".encode(), b"")  # compact


def test_an_integer_beyond_64_bits_is_rendered_exactly() -> None:
    body = {"metadata": {"big": 2**70, "small": -(2**63)}}
    assert json.loads(FastJSONResponse(body).body) == body
