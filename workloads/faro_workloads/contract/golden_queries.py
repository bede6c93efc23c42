"""Golden queries: questions with the documents that should answer them, the file a quality gate (and
``faro eval``) reads. YAML or JSON::

    queries:
      - query: How do I rotate the signing key?
        docIds: [security-guide, faq]

or JSON Lines, one question a line (``question`` or ``query``; ``doc_ids`` or ``docIds``)::

    {"question": "How do I rotate the signing key?", "doc_ids": ["security-guide", "faq"]}

Bounded so that a careless file cannot hold a worker: at most :data:`MAX_FILE_BYTES`, :data:`MAX_QUERIES`
queries of :data:`MAX_QUERY_CHARS` characters, :data:`MAX_DOC_IDS` document ids each.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, field_validator

DEFAULT_RECALL_K = 10
DEFAULT_MAX_RECALL_DROP = 0.05
RecallK = Annotated[int, Field(ge=1, le=100, description="The k of the golden queries' recall@k.")]
RecallDrop = Annotated[
    float,
    Field(ge=0, le=1, description="How far below the live generation's recall@k the new one may be."),
]
MAX_FILE_BYTES = 1024 * 1024
MAX_QUERIES = 2000
MAX_QUERY_CHARS = 2000
MAX_DOC_IDS = 100

DocId = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class GoldenQuery(BaseModel):
    """One question and the ids of the documents that answer it (any of their chunks counts)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    query: str = Field(
        min_length=1, max_length=MAX_QUERY_CHARS, validation_alias=AliasChoices("query", "question")
    )
    doc_ids: list[DocId] = Field(alias="docIds", min_length=1, max_length=MAX_DOC_IDS)

    @field_validator("query")
    @classmethod
    def _some_text(cls, query: str) -> str:
        """Only whitespace is refused here, as the query API refuses it (found at load, not mid-run)."""
        if not query.strip():
            raise ValueError("must contain some text")
        return query


class GoldenQueries(BaseModel):
    """A set of golden queries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queries: list[GoldenQuery] = Field(min_length=1, max_length=MAX_QUERIES)
