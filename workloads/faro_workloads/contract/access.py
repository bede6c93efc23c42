"""Who may call the data APIs: API keys with a scope, as a keys file holds them, and what each call needs
(a key's scope, or a Kubernetes service account's RBAC verb on a ``ragpipelines`` subresource).

A keys file (JSON, usually a Kubernetes Secret mounted as a volume) lists keys by name with the SHA-256 of the
key, never the key itself, so a leaked file or a log of it gives no way in::

    {"keys": [{"name": "ci-bot", "sha256": "<64 hex>", "scope": "write"},
              {"name": "search-ui", "sha256": "<64 hex>", "scope": "query"}]}

Scopes are ranked: ``query`` may query; ``write`` may also upload, replace, list, read and delete documents;
``admin`` may also call everything else under ``/v1/`` (the generations API). ``faro keys new`` makes a key
and its entry. A key with a ``tenant`` sees and writes only that tenant's documents: the tenant is stored
with each document it writes (the reserved metadata key :data:`TENANT_KEY`) and every query, list, read and
delete it makes is held to it. A key without one is not held to a tenant (an operator's or a service's).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from faro_workloads.contract.api import GROUP, RAGPIPELINE

KEY_PREFIX = "faro_"
MAX_KEYS = 1000
NAME_PATTERN = r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$"
TENANT_PATTERN = r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$"
TENANT_KEY = "faro_tenant"
"""The reserved metadata key that holds a document's tenant (only Faro sets it for a key bound to a tenant;
an upload naming it must name its own tenant)."""


class Scope(StrEnum):
    QUERY = "query"
    WRITE = "write"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Scope).index(self)

    def allows(self, required: Scope) -> bool:
        """Whether a key of this scope may do what needs ``required``."""
        return self.rank >= required.rank


class ApiKeyEntry(BaseModel):
    """One key of a keys file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(..., pattern=NAME_PATTERN, description="Who holds the key (audit lines name it).")
    sha256: str = Field(..., pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the key, lowercase hex.")
    scope: Scope
    tenant: str | None = Field(
        None, pattern=TENANT_PATTERN, description="Only this tenant's documents (none: not held to a tenant)."
    )


class KeysFile(BaseModel):
    """A keys file: unique names and keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: list[ApiKeyEntry] = Field(default_factory=list, max_length=MAX_KEYS)

    @model_validator(mode="after")
    def _unique(self) -> KeysFile:
        for what, values in (("name", [k.name for k in self.keys]), ("key", [k.sha256 for k in self.keys])):
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                shown = repeated if what == "name" else [f"{len(repeated)} key(s)"]
                raise ValueError(f"each {what} may appear once; repeated: {', '.join(shown)}")
        return self


def key_digest(key: str) -> str:
    """What a keys file holds for ``key``: its SHA-256, lowercase hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    """A new random API key (256 bits, URL-safe, recognisable by its prefix in a leaked-secret scan)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


# ---------------------------------------------------------------------------------------- what a call needs

QUERY_SUBRESOURCE = "query"
DOCUMENTS_SUBRESOURCE = "documents"
GENERATIONS_SUBRESOURCE = "generations"


@dataclass(frozen=True)
class CallNeeds:
    """What a call under ``/v1/`` needs: an API key of ``scope``, or a service account that RBAC allows
    ``verb`` on ``ragpipelines/<subresource>`` of the pipeline."""

    scope: Scope
    subresource: str
    verb: str

    @property
    def resource(self) -> str:
        """The resource as RBAC rules name it, e.g. ``ragpipelines/query``."""
        return f"{RAGPIPELINE.plural}/{self.subresource}"


def call_needs(method: str, path: str) -> CallNeeds:
    """What a ``method`` call to ``path`` (under ``/v1/``) needs.

    ``/v1/query``: scope ``query``, or ``create`` on ``ragpipelines/query``. ``/v1/documents``: scope
    ``write``, or on ``ragpipelines/documents`` ``create`` (upload, replace), ``delete``, ``list`` (the
    collection) or ``get`` (one document). Anything else (the generations API): scope ``admin``, or on
    ``ragpipelines/generations`` ``get``/``list`` to read and ``update`` to change.
    """
    method = method.upper()
    reads = method in ("GET", "HEAD")
    if _under(path, "/v1/query"):
        return CallNeeds(Scope.QUERY, QUERY_SUBRESOURCE, "create")
    if _under(path, "/v1/documents"):
        if method == "DELETE":
            verb = "delete"
        elif reads:
            verb = "list" if path.rstrip("/") == "/v1/documents" else "get"
        else:
            verb = "create"
        return CallNeeds(Scope.WRITE, DOCUMENTS_SUBRESOURCE, verb)
    verb = ("list" if path.rstrip("/") == "/v1/generations" else "get") if reads else "update"
    return CallNeeds(Scope.ADMIN, GENERATIONS_SUBRESOURCE, verb)


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def pipeline_audience(namespace: str, pipeline: str) -> str:
    """The audience a service-account token must be issued for to call the pipeline's data APIs, e.g.
    ``faro.dev/default/docs`` (a token for the API server, or for another pipeline, is refused)."""
    return f"{GROUP}/{namespace}/{pipeline}"
