"""The metadata filter both stores apply to a search, so the two answer the same question."""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

from faro_workloads.contract.access import TENANT_PATTERN
from faro_workloads.core.documents import DOC_ID_MAX_LENGTH, DOC_ID_PATTERN

# Values must be storable in PostgreSQL (no NUL in text or jsonb) and matchable by Qdrant (int64, finite).
NUL_FREE = r"^[^\x00]*$"
# Keys become Qdrant payload paths (metadata.<key>): letters, digits, _ and - only.
METADATA_KEY_PATTERN = r"^[A-Za-z0-9_-]+$"
MetadataKey = Annotated[str, Field(min_length=1, max_length=128, pattern=METADATA_KEY_PATTERN)]
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def whole_float_as_int(value: object) -> object:
    """A whole number is an integer however it is written: ``3.0`` is 3, as JSON Schema counts it; ``3.5``,
    ``"3"`` and ``true`` are left as they are (for strict validation to judge)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _whole_numbers_as_int64(value: object) -> object:
    """A whole number is an integer (:func:`whole_float_as_int`) and must fit in int64: one outside is
    refused, not stored as an inexact float."""
    value = whole_float_as_int(value)
    if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
        raise ValueError("integers must fit in 64 bits (-2**63 to 2**63-1)")
    return value


# Strict: a value keeps the JSON type it was sent with ("0" stays a string and is refused when too long,
# true is a boolean, not 1). Bounds are exact as floats (so ``< 2**63``, not ``<= 2**63-1``), which is how
# FastAPI's OpenAPI model and some clients hold them; every float beyond 2**53 is a whole number (taken as
# an integer above), so the float bound takes nothing away.
_BRANCH_OF = {str: "constrained-str", bool: "bool", int: "constrained-int", float: "constrained-float"}
METADATA_VALUE_TYPES = "a string, true or false, a 64-bit integer or a finite number"


def _one_problem(value: object, handler: ValidatorFunctionWrapHandler) -> object:
    """A value no member of the union takes gets one problem, not one per member: the member of its own
    type's (a string too long, a number not finite), or what a metadata value may be."""
    try:
        return handler(value)
    except ValidationError as exc:
        branch = _BRANCH_OF.get(type(value))
        own = [e["msg"] for e in exc.errors() if branch is not None and e["loc"][:1] == (branch,)]
        message = own[0] if own else f"a metadata value is {METADATA_VALUE_TYPES}"
        raise PydanticCustomError("metadata_value", message) from None


MetadataValue = Annotated[
    Annotated[StrictStr, Field(max_length=4096, pattern=NUL_FREE)]
    | StrictBool
    | Annotated[StrictInt, Field(ge=INT64_MIN, lt=2**63)]
    | Annotated[StrictFloat, Field(ge=-(2**53), le=2**53, allow_inf_nan=False)],
    WrapValidator(_one_problem),
    BeforeValidator(_whole_numbers_as_int64),  # outermost: runs first
]


class KeysNamedByPattern:
    """JSON Schema of a dict whose keys have a pattern: ``propertyNames`` carries the pattern, and every
    value has the value schema. (pydantic states the pattern as ``patternProperties``, which in JSON Schema
    lets keys of any other form through unchecked: the schema would promise what the server refuses.)"""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        patterns = schema.pop("patternProperties", None)
        if patterns:
            ((pattern, value_schema),) = patterns.items()
            schema["additionalProperties"] = value_schema
            schema["propertyNames"] = {**schema.get("propertyNames", {}), "pattern": pattern}
        return schema


DocIdValue = Annotated[str, Field(min_length=1, max_length=DOC_ID_MAX_LENGTH, pattern=DOC_ID_PATTERN)]


class SearchFilter(BaseModel):
    """Restrict a search to some documents and/or exact metadata values (all conditions must hold)."""

    model_config = ConfigDict(extra="forbid")

    doc_ids: list[DocIdValue] | None = Field(
        None, min_length=1, max_length=1000, description="Only chunks of these documents."
    )
    metadata: (
        Annotated[dict[MetadataKey, MetadataValue], Field(max_length=32), KeysNamedByPattern()] | None
    ) = Field(
        None,
        description="Only chunks whose metadata has each of these keys with exactly this value.",
    )

    tenant: Annotated[str, Field(pattern=TENANT_PATTERN)] | None = Field(
        None,
        description="Only chunks of this tenant's documents (a caller held to a tenant: only its own).",
    )

    def is_empty(self) -> bool:
        return not self.doc_ids and not self.metadata and self.tenant is None
