"""The server's notices to a pooled session reach the log at their severity; the idempotent DDL's own
"already exists, skipping" notices stay at debug level (every start would print them otherwise)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from faro_workloads.contract.settings import CollectionConfig, PostgresConfig
from faro_workloads.core.stores.postgres import PgVectorStore
from faro_workloads.core.stores.postgres.pool import PostgresPool

pytestmark = pytest.mark.integration

LOGGER = "faro_workloads.postgres"
RAISE = "DO $$ BEGIN RAISE WARNING 'faro: a warning'; RAISE NOTICE 'faro: a notice'; END $$"


def _records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LOGGER]


def test_a_sessions_warnings_and_notices_are_logged_at_their_severity(
    postgres_config: PostgresConfig, caplog: pytest.LogCaptureFixture
) -> None:
    pool = PostgresPool(postgres_config, "notices")
    try:
        with caplog.at_level(logging.DEBUG, logger=LOGGER), pool.connection("test") as conn:
            conn.execute(RAISE)
        assert _records(caplog) == [
            (logging.WARNING, "postgres warning: faro: a warning"),
            (logging.INFO, "postgres notice: faro: a notice"),
        ]

        async def on_the_query_path() -> None:
            try:
                async with pool.async_pool.connection("test") as conn:
                    await conn.execute(RAISE)
            finally:
                await pool.async_pool.aclose()

        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger=LOGGER):
            asyncio.run(on_the_query_path())
        assert [level for level, _ in _records(caplog)] == [logging.WARNING, logging.INFO]
    finally:
        pool.close()


def test_ensuring_an_existing_schema_logs_nothing_above_debug(
    postgres_config: PostgresConfig, caplog: pytest.LogCaptureFixture
) -> None:
    store = PgVectorStore(postgres_config, CollectionConfig(name="notices", dimension=4))
    try:
        store.ensure_schema()
        with caplog.at_level(logging.DEBUG, logger=LOGGER):
            store.ensure_schema()  # every table and index exists: PostgreSQL says "skipping" for each
        skipping = [(level, m) for level, m in _records(caplog) if "skipping" in m]
        assert skipping and {level for level, _ in skipping} == {logging.DEBUG}
    finally:
        store.close()
