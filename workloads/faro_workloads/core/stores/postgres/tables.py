"""The names of one collection's tables and indexes, and the SQL its distance maps to.

Per collection, in schema ``PostgresConfig.schema_name``: ``{name}_documents``, ``{name}_chunks`` (with the
indexes ``{name}_chunks_doc_id`` and ``{name}_chunks_hnsw``) and ``{name}_outbox`` (with
``{name}_outbox_point_id``); writes stage chunks in the session temp table ``faro_stage_{name}``.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from faro_workloads.contract.settings import CollectionConfig, Distance

# Distance -> (HNSW operator class, SQL distance operator).
_DISTANCE_SQL: dict[Distance, tuple[str, str]] = {
    Distance.COSINE: ("vector_cosine_ops", "<=>"),
    Distance.DOT: ("vector_ip_ops", "<#>"),
    Distance.EUCLID: ("vector_l2_ops", "<->"),
}


@dataclass(frozen=True, slots=True)
class CollectionTables:
    """Every name the store's statements use for one collection (composed with :mod:`psycopg.sql`)."""

    schema_name: str
    collection: CollectionConfig
    schema: sql.Identifier
    documents: sql.Identifier
    chunks: sql.Identifier
    outbox: sql.Identifier
    staging: sql.Identifier  # a session temp table, so unqualified
    chunks_table_name: str
    hnsw_index_name: str
    doc_index_name: str
    outbox_index_name: str
    opclass: str  # the HNSW operator class of the collection's distance
    operator: str  # the SQL distance operator of the collection's distance

    @classmethod
    def of(cls, schema_name: str, collection: CollectionConfig) -> CollectionTables:
        name = collection.name
        opclass, operator = _DISTANCE_SQL[collection.distance]
        return cls(
            schema_name=schema_name,
            collection=collection,
            schema=sql.Identifier(schema_name),
            documents=sql.Identifier(schema_name, f"{name}_documents"),
            chunks=sql.Identifier(schema_name, f"{name}_chunks"),
            outbox=sql.Identifier(schema_name, f"{name}_outbox"),
            staging=sql.Identifier(f"faro_stage_{name}"),
            chunks_table_name=f"{name}_chunks",
            hnsw_index_name=f"{name}_chunks_hnsw",
            doc_index_name=f"{name}_chunks_doc_id",
            outbox_index_name=f"{name}_outbox_point_id",
            opclass=opclass,
            operator=operator,
        )
