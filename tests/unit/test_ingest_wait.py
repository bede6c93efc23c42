"""`faro ingest --wait`: polling states until each document is searchable or failed, through a moment when
the API is unavailable, and a timeout that says how many are still on their way."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from faro_workloads.cli import document_commands
from faro_workloads.client import APIUnavailable


class ScriptedClient:
    """Answers ``document(id)`` from a script of answers per id (the last one repeats); an exception in the
    script is raised."""

    def __init__(self, script: dict[str, list[Any]]) -> None:
        self._script = script
        self.calls = 0

    def document(self, doc_id: str) -> dict[str, Any] | None:
        self.calls += 1
        answers = self._script[doc_id]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(document_commands, "POLL_SECONDS", (0.01,))


def state(name: str, reason: str | None = None) -> dict[str, Any]:
    return {"state": name, "reason": reason}


def test_waits_through_an_unavailable_api_until_searchable_and_counts_failures(capsys) -> None:
    client = ScriptedClient(
        {
            "a": [
                state("accepted"),
                APIUnavailable("HTTP 503: PostgreSQL is unavailable"),
                state("searchable"),
            ],
            "b": [httpx.ConnectError("refused"), state("embedded"), state("searchable")],
            "c": [state("accepted"), state("failed", "dead-lettered after 3 receives: not text")],
        }
    )

    left = document_commands._wait_until_settled(client, ["a", "b", "c"], timeout=10)  # type: ignore[arg-type]

    assert left == 1  # c failed
    out, err = capsys.readouterr()
    assert "2 searchable, 1 failed" in out
    assert "c: dead-lettered after 3 receives: not text" in err


def test_a_timeout_says_how_many_are_still_on_their_way_and_the_last_error(capsys) -> None:
    client = ScriptedClient({"a": [state("accepted")], "b": [APIUnavailable("HTTP 503: busy")]})

    left = document_commands._wait_until_settled(client, ["a", "b"], timeout=0.2)  # type: ignore[arg-type]

    assert left == 2
    err = capsys.readouterr().err
    assert "timed out after 0.2 s: 2 not searchable yet (2 accepted); last error: HTTP 503: busy" in " ".join(
        err.split()
    )
