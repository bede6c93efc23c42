"""A bucket prefix of raw documents as a pipeline's source: which keys are documents, their ids, and the
document metadata their S3 user metadata and tags give.

``doc_id`` is the key below the prefix (``raw/docs/guides/setup.md`` under ``raw/docs`` is
``guides/setup.md``), made safe as :func:`~faro_workloads.core.documents.doc_id_from_path` makes a file's
path. Globs (:func:`fnmatch.fnmatchcase`) match the whole key below the prefix, and ``*`` crosses ``/``:
``*.md``, ``guides/*``. A key is a document when no exclude glob matches it and, when include globs are
given, one of them does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

from faro_workloads.contract.settings import SourceDocumentsConfig
from faro_workloads.core.documents import doc_id_from_path

SOURCE_SCHEME = "s3://"
"""What the ``source`` of every document read from a bucket source starts with."""
MAX_METADATA_ENTRIES = 64
MAX_METADATA_VALUE = 4096
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class SourceLayout:
    """Where a pipeline's raw documents are, and which keys below the prefix count."""

    bucket: str
    prefix: str
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    @classmethod
    def of(cls, config: SourceDocumentsConfig, default_bucket: str) -> SourceLayout:
        return cls(
            config.bucket or default_bucket,
            config.prefix.strip("/"),
            tuple(config.include),
            tuple(config.exclude),
        )

    @property
    def key_prefix(self) -> str:
        """Every document key starts with this (the bucket notification's filter)."""
        return f"{self.prefix}/"

    def doc_id(self, key: str) -> str | None:
        """The document id of ``key``; None when the key is no document of this source (another prefix, a
        folder marker, excluded or not included). Raises InvalidDocumentId for a key no id can be made of."""
        if not key.startswith(self.key_prefix) or key.endswith("/"):
            return None
        relative = key[len(self.key_prefix) :]
        if self.include and not any(fnmatchcase(relative, glob) for glob in self.include):
            return None
        if any(fnmatchcase(relative, glob) for glob in self.exclude):
            return None
        return doc_id_from_path(relative)

    def source(self, key: str) -> str:
        """The ``source`` recorded with a document read from ``key``."""
        return f"{SOURCE_SCHEME}{self.bucket}/{key}"

    @property
    def source_prefix(self) -> str:
        """What the ``source`` of every document of this layout starts with."""
        return self.source(self.key_prefix)


def document_metadata(user_metadata: Mapping[str, str], tags: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Document metadata from an object's tags and user metadata (``x-amz-meta-*``; it wins over a tag of the
    same name). Names are made filter-safe: characters other than letters, digits, ``_`` and ``-`` become
    ``_`` (S3 allows more); values are kept as strings of at most 4096 characters."""
    merged: dict[str, str] = {}
    for name, value in [*tags, *user_metadata.items()]:
        key = _KEY_UNSAFE.sub("_", name)[:128]
        if key:
            merged[key] = str(value)[:MAX_METADATA_VALUE]
    return dict(sorted(merged.items())[:MAX_METADATA_ENTRIES])
