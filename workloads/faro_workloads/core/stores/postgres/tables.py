"""The names of one collection's tables and indexes, and the SQL its distance maps to.

Per collection, in schema ``PostgresConfig.schema_name``: ``{name}_documents``, one chunks table per index
generation (``{name}_chunks`` for the first, ``{name}_g{N}_chunks`` after it; each with the indexes
``<table>_doc_id`` and ``<table>_hnsw``), ``{name}_generations`` (which generation is live),
``{name}_outbox`` (with ``{name}_outbox_point_id``), ``{name}_texts`` (each document's extracted text,
compressed), ``{name}_document_marks`` (documents that failed or were deleted), ``{name}_requeued`` (what
the census sent to the embedding engine again) and
``{name}_embedding_cache``; writes stage chunks in the session temp table
``faro_stage_<chunks table>``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql

from faro_workloads.contract.generations import FIRST_GENERATION, chunks_table_name
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
    texts: sql.Identifier
    marks: sql.Identifier
    requeued: sql.Identifier
    embedding_cache: sql.Identifier
    generations: sql.Identifier
    generation: int  # whose chunks table ``chunks`` is (and whose outbox rows this store queues and claims)
    staging: sql.Identifier  # a session temp table, so unqualified
    chunks_table_name: str
    hnsw_index_name: str
    doc_index_name: str
    tenant_index_name: str  # the chunks of each tenant (a caller held to a tenant searches only those)
    lexical_index_name: str
    indexed_terms_index_name: str  # the chunks that have lexical terms (BM25's collection size, counted)
    outbox_index_name: str
    opclass: str  # the HNSW operator class of the collection's distance
    operator: str  # the SQL distance operator of the collection's distance

    @classmethod
    def of(
        cls, schema_name: str, collection: CollectionConfig, generation: int = FIRST_GENERATION
    ) -> CollectionTables:
        """The names of ``collection``'s tables, with generation ``generation``'s chunks table."""
        name = collection.name
        chunks = chunks_table_name(name, generation)
        opclass, operator = _DISTANCE_SQL[collection.distance]
        return cls(
            schema_name=schema_name,
            collection=collection,
            schema=sql.Identifier(schema_name),
            documents=sql.Identifier(schema_name, f"{name}_documents"),
            chunks=sql.Identifier(schema_name, chunks),
            outbox=sql.Identifier(schema_name, f"{name}_outbox"),
            texts=sql.Identifier(schema_name, f"{name}_texts"),
            marks=sql.Identifier(schema_name, f"{name}_document_marks"),
            requeued=sql.Identifier(schema_name, f"{name}_requeued"),
            embedding_cache=sql.Identifier(schema_name, f"{name}_embedding_cache"),
            generations=sql.Identifier(schema_name, f"{name}_generations"),
            generation=generation,
            staging=sql.Identifier(f"faro_stage_{chunks}"),
            chunks_table_name=chunks,
            hnsw_index_name=f"{chunks}_hnsw",
            doc_index_name=f"{chunks}_doc_id",
            tenant_index_name=f"{chunks}_tenant",
            lexical_index_name=f"{chunks}_lexical",
            indexed_terms_index_name=f"{chunks}_has_terms",
            outbox_index_name=f"{name}_outbox_point_id",
            opclass=opclass,
            operator=operator,
        )


def add_missing_columns(
    conn: psycopg.Connection, table: sql.Composable, columns: Sequence[tuple[str, str]]
) -> None:
    """Add those of ``columns`` (name, SQL definition) that ``table`` lacks (tables made by an older Faro).

    Only the missing ones are altered: ``ADD COLUMN IF NOT EXISTS`` takes the table's ACCESS EXCLUSIVE lock
    even when the column is there, so every service start would queue behind, and stop, every reader and
    writer of a live table (and could deadlock with a backfill reading it)."""
    present = {name for (name,) in conn.execute(_COLUMNS, (table.as_string(conn),)).fetchall()}
    for name, definition in columns:
        if name not in present:
            alter = sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} ").format(table, sql.Identifier(name))
            conn.execute(alter + sql.SQL(definition))  # type: ignore[arg-type]


def relation_exists(conn: psycopg.Connection, relation: sql.Composable) -> bool:
    """Whether ``relation`` (a table or index) is there."""
    return conn.execute("SELECT to_regclass(%s)", (relation.as_string(conn),)).fetchone() not in (
        None,
        (None,),
    )


_COLUMNS = (
    "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped"
)
