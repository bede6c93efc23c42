"""Who may call the data APIs: API keys with a scope, as a keys file holds them.

A keys file (JSON, usually a Kubernetes Secret mounted as a volume) lists keys by name with the SHA-256 of the
key, never the key itself, so a leaked file or a log of it gives no way in::

    {"keys": [{"name": "ci-bot", "sha256": "<64 hex>", "scope": "write"},
              {"name": "search-ui", "sha256": "<64 hex>", "scope": "query"}]}

Scopes are ranked: ``query`` may query; ``write`` may also upload, replace, list, read and delete documents;
``admin`` may also call everything else under ``/v1/`` (the generations API). ``faro keys new`` makes a key
and its entry. Keys bound to a tenant are not accepted yet: an entry with any other field is refused, so a
file written for tenant isolation fails to load instead of opening every tenant's documents.
"""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

KEY_PREFIX = "faro_"
MAX_KEYS = 1000
NAME_PATTERN = r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$"


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
