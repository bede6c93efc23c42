"""The metadata filter both stores apply to a search, so the two answer the same question."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

MetadataValue = str | int | float | bool


class SearchFilter(BaseModel):
    """Restrict a search to some documents and/or exact metadata values (all conditions must hold)."""

    model_config = ConfigDict(extra="forbid")

    doc_ids: list[str] | None = Field(
        None, min_length=1, max_length=1000, description="Only chunks of these documents."
    )
    metadata: dict[str, MetadataValue] | None = Field(
        None,
        max_length=32,
        description="Only chunks whose metadata has each of these keys with exactly this value.",
    )

    def is_empty(self) -> bool:
        return not self.doc_ids and not self.metadata
