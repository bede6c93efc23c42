"""Each document's canonical extracted text, kept compressed in ``{name}_texts`` so that the document can be
chunked and embedded again (another index profile) without being uploaded again.

The text is written in the transaction that writes the document (one row per document, replaced with it)
and deleted with it. zlib level 6 typically shrinks prose 3-4 times; the column is stored EXTERNAL so
PostgreSQL does not try to compress it a second time.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence

import psycopg
from psycopg import sql

from faro_workloads.core.documents import SourceText
from faro_workloads.core.stores.postgres.pool import PostgresPool
from faro_workloads.core.stores.postgres.tables import CollectionTables

COMPRESSION_LEVEL = 6


def compress(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8"), COMPRESSION_LEVEL)


def decompress(data: bytes) -> str:
    return zlib.decompress(data).decode("utf-8")


def create_texts_table(conn: psycopg.Connection, tables: CollectionTables) -> None:
    """``{name}_texts`` (idempotent)."""
    conn.execute(
        sql.SQL(
            """
            CREATE TABLE IF NOT EXISTS {} (
                doc_id text PRIMARY KEY,
                content_hash text NOT NULL,
                format text NOT NULL,
                text_z bytea NOT NULL
            )
            """
        ).format(tables.texts)
    )
    # Stored uncompressed (the text is compressed already); altered only when not yet so: an ALTER takes the
    # table's ACCESS EXCLUSIVE lock, at every service start otherwise.
    storage = conn.execute(
        "SELECT attstorage FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attname = 'text_z'",
        (tables.texts.as_string(conn),),
    ).fetchone()
    if storage != ("e",):
        conn.execute(sql.SQL("ALTER TABLE {} ALTER COLUMN text_z SET STORAGE EXTERNAL").format(tables.texts))


def upsert_texts(conn: psycopg.Connection, tables: CollectionTables, texts: Mapping[str, SourceText]) -> None:
    """Keep ``texts`` (by doc_id), replacing what the documents had, in the caller's transaction."""
    if not texts:
        return
    with conn.cursor() as cursor:
        cursor.executemany(
            sql.SQL(
                """
                INSERT INTO {} (doc_id, content_hash, format, text_z) VALUES (%s, %s, %s, %s)
                ON CONFLICT (doc_id) DO UPDATE SET
                    content_hash = EXCLUDED.content_hash, format = EXCLUDED.format, text_z = EXCLUDED.text_z
                """
            ).format(tables.texts),
            [(doc_id, t.content_hash, t.fmt, compress(t.text)) for doc_id, t in sorted(texts.items())],
        )


def delete_texts(conn: psycopg.Connection, tables: CollectionTables, doc_ids: Sequence[str]) -> None:
    conn.execute(sql.SQL("DELETE FROM {} WHERE doc_id = ANY(%s)").format(tables.texts), (list(doc_ids),))


class PostgresTexts:
    """Reads the kept texts of one collection."""

    def __init__(self, pool: PostgresPool, tables: CollectionTables) -> None:
        self._pool = pool
        self._tables = tables

    def get_texts(self, doc_ids: Sequence[str]) -> dict[str, SourceText]:
        """The kept texts of those of ``doc_ids`` that have one, by doc_id (one query)."""
        with self._pool.transaction("get_texts") as conn:
            rows = conn.execute(
                sql.SQL("SELECT doc_id, content_hash, format, text_z FROM {} WHERE doc_id = ANY(%s)").format(
                    self._tables.texts
                ),
                (list(doc_ids),),
            ).fetchall()
        return {doc_id: SourceText(decompress(data), fmt, digest) for doc_id, digest, fmt, data in rows}
