"""The RagPipeline spec and the services' settings read chunking alike: same defaults, bounds and rule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from faro_operator.specs import ChunkingSpec
from faro_workloads.contract.settings import ChunkingConfig


@pytest.mark.parametrize("model", [ChunkingSpec, ChunkingConfig])
def test_overlap_must_leave_each_chunk_something_new(model: type) -> None:
    with pytest.raises(ValidationError, match=r"chunking overlap \(64\) must be smaller than size \(64\)"):
        model(size=64, overlap=64)
    assert model(size=64, overlap=63).overlap == 63


@pytest.mark.parametrize(
    ("field", "value"), [("size", 7), ("size", 8193), ("overlap", -1), ("overlap", 4097)]
)
def test_both_sides_refuse_the_same_out_of_range_values(field: str, value: int) -> None:
    for model in (ChunkingSpec, ChunkingConfig):
        with pytest.raises(ValidationError, match=field):
            model(**{field: value, **({"size": 8192} if field == "overlap" else {"overlap": 0})})


def test_both_sides_have_the_same_defaults() -> None:
    spec, config = ChunkingSpec(), ChunkingConfig()
    assert (spec.strategy, spec.size, spec.overlap) == (config.strategy, config.size, config.overlap)
