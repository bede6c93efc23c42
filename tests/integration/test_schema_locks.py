"""Ensuring a collection's schema that is already there locks nothing a reader holds: every service start
ensures it, and an ``ALTER TABLE`` (even ``ADD COLUMN IF NOT EXISTS`` of a column that exists) takes the
table's ACCESS EXCLUSIVE lock, which waits for every open transaction on the table and stops every query
queued behind it (and deadlocked with a backfill reading two tables)."""

from __future__ import annotations

import threading

import psycopg
import pytest
from psycopg import sql

from faro_workloads.core.stores.postgres import PgVectorStore

pytestmark = pytest.mark.integration


def test_ensuring_an_existing_schema_does_not_wait_for_readers(pg_store: PgVectorStore) -> None:
    tables = pg_store._tables
    ensured = threading.Event()
    starter = threading.Thread(target=lambda: (pg_store.ensure_schema(), ensured.set()), daemon=True)
    with psycopg.connect(pg_store._config.dsn.get_secret_value()) as reader:  # a transaction left open
        for table in (tables.documents, tables.chunks, tables.outbox, tables.texts, tables.generations):
            reader.execute(sql.SQL("SELECT 1 FROM {} LIMIT 1").format(table))
        starter.start()
        finished = ensured.wait(15)
    starter.join(30)
    assert finished, "ensure_schema waited for a reader's lock"
