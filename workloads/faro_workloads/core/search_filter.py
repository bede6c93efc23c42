"""The metadata filter both stores apply to a search, so the two answer the same question."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)

from faro_workloads.core.documents import DOC_ID_MAX_LENGTH, DOC_ID_PATTERN

# Values must be storable in PostgreSQL (no NUL in text or jsonb) and matchable by Qdrant (int64, finite).
NUL_FREE = r"^[^\x00]*$"
# Keys become Qdrant payload paths (metadata.<key>): letters, digits, _ and - only.
MetadataKey = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _whole_numbers_fit_int64(value: object) -> object:
    """An integer outside int64 is refused, not turned into an inexact float."""
    if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
        raise ValueError("integers must fit in 64 bits (-2**63 to 2**63-1)")
    return value


# Strict: a value keeps the JSON type it was sent with ("0" stays a string and is refused when too long,
# true is a boolean, not 1).
MetadataValue = Annotated[
    Annotated[StrictStr, Field(max_length=4096, pattern=NUL_FREE)]
    | StrictBool
    | StrictInt
    | Annotated[StrictFloat, Field(allow_inf_nan=False)],
    BeforeValidator(_whole_numbers_fit_int64),
]
DocIdValue = Annotated[str, Field(min_length=1, max_length=DOC_ID_MAX_LENGTH, pattern=DOC_ID_PATTERN)]


class SearchFilter(BaseModel):
    """Restrict a search to some documents and/or exact metadata values (all conditions must hold)."""

    model_config = ConfigDict(extra="forbid")

    doc_ids: list[DocIdValue] | None = Field(
        None, min_length=1, max_length=1000, description="Only chunks of these documents."
    )
    metadata: dict[MetadataKey, MetadataValue] | None = Field(
        None,
        max_length=32,
        description="Only chunks whose metadata has each of these keys with exactly this value.",
    )

    def is_empty(self) -> bool:
        return not self.doc_ids and not self.metadata
