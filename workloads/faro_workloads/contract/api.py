"""The custom resources' API: group, version, kinds with their plurals and short names, and the base of
every model that is written to or read from a custom resource (camelCase on the wire)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

GROUP = "faro.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"


@dataclass(frozen=True)
class ResourceKind:
    """One custom resource kind: what ``kubectl`` and the API paths call it."""

    kind: str
    plural: str
    short_names: tuple[str, ...]

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def status_resource(self) -> str:
        """The status subresource as RBAC names it: writes to it are authorized against
        ``<plural>/status``, not the plural itself."""
        return f"{self.plural}/status"

    @property
    def crd_name(self) -> str:
        """The CustomResourceDefinition's ``metadata.name``, e.g. ``collections.faro.dev``."""
        return f"{self.plural}.{GROUP}"


COLLECTION = ResourceKind("Collection", "collections", ("fcol",))
RAGPIPELINE = ResourceKind("RagPipeline", "ragpipelines", ("rp", "ragp"))
KINDS = (COLLECTION, RAGPIPELINE)
"""Every kind, in the order they are applied (a RagPipeline names its Collection)."""


def qualified_key(name: str) -> str:
    """A label, annotation or finalizer key in Faro's domain, e.g. ``faro.dev/pipeline``."""
    return f"{GROUP}/{name}"


class ApiModel(BaseModel):
    """Base of every spec and status model: camelCase in YAML, unknown fields rejected, immutable."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class SettingsModel(BaseModel):
    """Base of every service settings model (``FARO_*``): snake_case, unknown fields rejected, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SearchMode(StrEnum):
    """How a query finds chunks: by meaning (dense vectors), by words (BM25 over the chunks' terms), or both,
    fused by reciprocal rank."""

    DENSE = "dense"
    LEXICAL = "lexical"
    HYBRID = "hybrid"


class Distance(StrEnum):
    """Vector distance; both stores index with the same one."""

    COSINE = "cosine"
    DOT = "dot"
    EUCLID = "euclid"
