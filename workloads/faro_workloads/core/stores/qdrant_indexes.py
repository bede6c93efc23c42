"""The payload indexes of a Faro collection in Qdrant: ``doc_id`` (deletes and document filters) and the
chunks' tenant (every search of a caller held to a tenant filters on it)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

from qdrant_client import models

from faro_workloads.core.stores.qdrant_filter import TENANT_PAYLOAD_KEY

if TYPE_CHECKING:
    from faro_workloads.core.stores.qdrant_connection import QdrantApi


def create_payload_indexes(client: QdrantApi, collection: str, local: bool) -> None:
    """Both indexes on a new ``collection`` (``local``: qdrant-client local mode, which warns that payload
    indexes have no effect there; that is expected)."""
    with warnings.catch_warnings():
        if local:
            warnings.simplefilter("ignore", UserWarning)
        client.create_payload_index(
            collection, "doc_id", field_schema=models.PayloadSchemaType.KEYWORD, wait=True
        )
    create_tenant_index(client, collection, local)


def create_tenant_index(client: QdrantApi, collection: str, local: bool) -> None:
    """The keyword index of the chunks' tenant, marked as the tenant field (Qdrant keeps each tenant's
    points together); also for collections made before tenants (making it again changes nothing)."""
    with warnings.catch_warnings():
        if local:
            warnings.simplefilter("ignore", UserWarning)
        client.create_payload_index(
            collection,
            TENANT_PAYLOAD_KEY,
            field_schema=models.KeywordIndexParams(type=models.KeywordIndexType.KEYWORD, is_tenant=True),
            wait=True,
        )
