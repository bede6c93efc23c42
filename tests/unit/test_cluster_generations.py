"""The CLI's view of a RagPipeline's generations (from its status), and what a rollback sets back."""

from __future__ import annotations

import pytest

from faro_workloads.cli.cluster_pipeline import generations_view, require_state, rollback_target
from faro_workloads.cli.reindex_command import _matches
from faro_workloads.errors import InputError


def profile(model: str, size: int = 250) -> dict:
    return {
        "embedding": {"provider": "openai", "model": model, "dimension": 384},
        "chunking": {"strategy": "markdown", "size": size, "overlap": 32, "tokenizer": "chars/4"},
        "extraction": 1,
    }


def pipeline(*rows: tuple[int, str, str], blocked: tuple[str, str] | None = None) -> dict:
    generations = [
        {
            "id": i,
            "state": state,
            "model": f"openai:{model}@384",
            "chunking": "markdown 250/32 chars/4",
            "fingerprint": str(i),
            "profile": profile(model),
            "created": "2026-12-06T05:00:00Z",
        }
        for i, state, model in rows
    ]
    conditions = [{"type": "CutoverBlocked", "status": "False", "reason": "NotBlocked", "message": ""}]
    if blocked:
        conditions = [
            {"type": "CutoverBlocked", "status": "True", "reason": blocked[0], "message": blocked[1]}
        ]
    live = next((i for i, state, _ in rows if state == "Live"), None)
    return {"status": {"liveGeneration": live, "generations": generations, "conditions": conditions}}


def test_the_status_reads_as_the_local_api_answers() -> None:
    view = generations_view(
        pipeline(
            (1, "Retired", "a"), (2, "Live", "b"), (3, "Building", "c"), blocked=("RecallDropped", "low")
        )
    )
    assert view["live"] == 2
    assert [(g["id"], g["state"], g["summary"]) for g in view["generations"]][1] == (
        2,
        "Live",
        "openai:b@384 · markdown 250/32 chars/4",
    )
    assert view["blocked"] == {"generation": 3, "reason": "RecallDropped", "message": "low"}
    assert generations_view({})["generations"] == [] and generations_view({})["blocked"] is None


def test_a_rollback_sets_back_the_most_recently_retired_profile_or_the_one_named() -> None:
    view = generations_view(pipeline((1, "Retired", "a"), (2, "Retired", "b"), (3, "Live", "c")))
    assert rollback_target(view, None).embedding.model == "b"
    assert rollback_target(view, 1).embedding.model == "a"
    with pytest.raises(InputError, match="generation 3 is Live, not Retired"):
        rollback_target(view, 3)
    with pytest.raises(InputError, match="generation 9 does not exist"):
        require_state(view, 9, "Building")
    with pytest.raises(InputError, match="no retired generation"):
        rollback_target(generations_view(pipeline((1, "Live", "a"))), None)


def test_a_followed_reindex_ends_on_the_live_generation_with_every_wanted_value() -> None:
    live = generations_view(pipeline((2, "Live", "b")))["generations"][0]
    assert _matches(live, {"embedding": {"model": "b"}})
    assert _matches(live, {"embedding": {"model": "b"}, "chunking": {"size": 250}})
    assert not _matches(live, {"embedding": {"model": "b"}, "chunking": {"size": 64}})
    assert not _matches({"profile": None}, {"embedding": {"model": "b"}})


def test_the_table_says_since_when_each_generation_is_in_its_state(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from faro_workloads.cli import generation_commands

    recorded = Console(record=True, width=200)
    monkeypatch.setattr(generation_commands, "console", recorded)
    made, live, retired = "2026-12-07T15:40:00", "2026-12-07T15:40:57", "2026-12-07T15:42:00"
    row = {"summary": "m", "approved": False, "documents": None}
    generation_commands.show(
        {
            "live": 2,
            "generations": [
                {
                    **row,
                    "id": 1,
                    "state": "Retired",
                    "created_at": made,
                    "live_since": live,
                    "retired_at": retired,
                },
                {
                    **row,
                    "id": 2,
                    "state": "Live",
                    "created_at": made,
                    "live_since": retired,
                    "retired_at": None,
                },
                {
                    **row,
                    "id": 3,
                    "state": "Building",
                    "created_at": made,
                    "live_since": None,
                    "retired_at": None,
                },
            ],
        },
        as_json=False,
    )
    lines = {line.split("│")[1].strip(): line for line in recorded.export_text().splitlines() if "│" in line}
    assert retired in lines["1"] and live not in lines["1"]
    assert retired in lines["2"] and made in lines["3"]
