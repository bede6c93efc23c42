"""Faro's search filter (:class:`SearchFilter`) as a Qdrant filter over the chunks' payload."""

from __future__ import annotations

from qdrant_client import models

from faro_workloads.contract.access import TENANT_KEY
from faro_workloads.core.search_filter import SearchFilter

TENANT_PAYLOAD_KEY = f"metadata.{TENANT_KEY}"
"""Where a chunk's tenant is in its Qdrant payload (a keyword index, made with the collection)."""


def _condition(key: str, value: str | int | float | bool) -> models.FieldCondition:
    """An exact-match condition; floats (which MatchValue does not take) match as a closed range."""
    if isinstance(value, float):
        return models.FieldCondition(key=key, range=models.Range(gte=value, lte=value))
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def to_qdrant_filter(flt: SearchFilter | None) -> models.Filter | None:
    """The Qdrant filter equivalent to ``flt`` (None when there is nothing to filter on)."""
    if flt is None or flt.is_empty():
        return None
    must: list[models.Condition] = []
    if flt.doc_ids:
        must.append(models.FieldCondition(key="doc_id", match=models.MatchAny(any=list(flt.doc_ids))))
    for key, value in (flt.metadata or {}).items():
        must.append(_condition(f"metadata.{key}", value))
    if flt.tenant is not None:
        must.append(_condition(TENANT_PAYLOAD_KEY, flt.tenant))
    return models.Filter(must=must)
